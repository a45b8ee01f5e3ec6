/**
 * Which mechanisms a session offers, and how a failed exchange is reported. The rules:
 * - a server half must exist (client-only providers are never offered);
 * - `requireTls`: nothing before TLS;
 * - a mechanism that sends the secret in clear only where core's cleartext rule allows it
 *   (`cleartextRefusal`, the same rule the clients apply);
 * - a channel-binding (-PLUS) variant only where binding data exists (TLS, not cleartext);
 * - EXTERNAL only where a verified client certificate can exist (TLS with `requestCert` and a CA).
 * What is offered is exactly what AUTH accepts, and is handed to the server halves
 * (`ServerContext.advertised`), so SCRAM can tell a downgrade from a client that cannot bind.
 */
import { cleartextRefusal, type ChannelInfo, type CleartextPolicy, type MechanismProvider } from "@saslkit/core";

export interface OfferContext {
  readonly channel: ChannelInfo;
  readonly requireTls: boolean;
  readonly cleartext: CleartextPolicy;
  /** TLS with `requestCert` and a CA: a verified client certificate can exist on this session. */
  readonly clientCertificates: boolean;
}

/** Why `provider` is not offered now: "cleartext" (answer 538), "unavailable" (504), or undefined when it is. */
export function offerRefusal(provider: MechanismProvider, context: OfferContext): "cleartext" | "tls-required" | "unavailable" | undefined {
  if (!provider.createServer) return "unavailable";
  if (context.requireTls && !context.channel.secure) return "tls-required";
  if (provider.security.sendsSecretInClear && cleartextRefusal(context.cleartext, context.channel) !== undefined) return "cleartext";
  if (provider.security.channelBinding && !(context.channel.secure && (context.channel.channelBinding?.types.length ?? 0) > 0)) return "unavailable";
  if (provider.name === "EXTERNAL" && !(context.channel.secure && context.clientCertificates)) return "unavailable";
  return undefined;
}

/** How an authentication failure is told apart in the transcript and the reply. */
export type FailureKind = "credentials" | "authorization" | "channel-binding" | "downgrade" | "malformed" | "temporary" | "cancelled";

/**
 * Classifies a server half's failure. SCRAM reports binding problems in its RFC 5802 `e=` value:
 * `server-does-support-channel-binding` is a downgrade (the client says it could bind but
 * believes we cannot: someone removed -PLUS from what it saw); the other binding values are a
 * binding failure (a different TLS channel: a man in the middle, or a broken client). Neither is
 * a wrong password, and the log says so.
 */
export function classifyFailure(code: string, message: string): FailureKind {
  if (/server-does-support-channel-binding|downgrade/i.test(message)) return "downgrade";
  if (/channel[- ]bindings?\b|channel-binding/i.test(message)) return "channel-binding";
  switch (code) {
    case "authorization-failed":
      return "authorization";
    case "invalid-response":
      return "malformed";
    case "temporary-failure":
      return "temporary";
    case "aborted":
      return "cancelled";
    default:
      return "credentials";
  }
}
