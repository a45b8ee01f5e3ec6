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
import { SaslError, cleartextRefusal, type AuthIdentity, type ChannelInfo, type CleartextPolicy, type MechanismProvider, type SaslServerMechanism, type ServerStep } from "@saslkit/core";
import { TransportError, decodeBase64, type Deadline } from "@saslkit/transport";

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
 * Classifies a server half's failure. A half may say why in `reason` (for the server's log only:
 * "credentials", "channel-binding", "downgrade", "malformed"); otherwise SCRAM's RFC 5802 `e=`
 * value tells: `server-does-support-channel-binding` is a downgrade (the client says it could bind
 * but believes we cannot: someone removed -PLUS from what it saw), the other binding values a
 * binding failure (a different TLS channel: a man in the middle, or a broken client). Neither is
 * a wrong password, and the log says so.
 */
export function classifyFailure(code: string, message: string, reason?: string): FailureKind {
  switch (reason) {
    case "downgrade":
    case "channel-binding":
    case "credentials":
    case "malformed":
      return reason;
  }
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

/** Thrown inside a session to end it after the reply was sent (an exchange lets it through). */
export class EndSession extends Error {}

const stepTimeout = () => new TransportError("timeout", "The server's authentication step did not finish in time.");

/** What the exchange needs from the session: send a `334` challenge, read the next response line. */
export interface ExchangeIo {
  challenge(data: Uint8Array): Promise<void>;
  response(): Promise<string>;
  /** The deadline for the server half's next step (its callbacks: the user database). */
  deadline(): Deadline;
}

/** The end of an exchange: who logged in, or the reply to send and why (for the log). */
export type ExchangeOutcome = { readonly identity: AuthIdentity } | { readonly code: number; readonly enhanced: string; readonly text: string; readonly kind: FailureKind; readonly reason: string };

/**
 * Drives a server half (RFC 4954): `334` challenges out, base64 responses in, `*` cancels. Success
 * data is sent as a final `334` (SMTP has no success data on 235), which the client answers with
 * an empty line. TransportErrors (timeout, closed) and EndSession propagate: they end the session; a server half
 * that has not answered by `io.deadline()` is a timeout too.
 */
export async function runExchange(io: ExchangeIo, mechanism: string, server: SaslServerMechanism, initial: Uint8Array | null): Promise<ExchangeOutcome> {
  // A user database that never answers must not hold the session (and its connection slot) for ever.
  const bounded = (step: ServerStep | Promise<ServerStep>) => io.deadline().bound(Promise.resolve(step), stepTimeout);
  const fail = (code: number, enhanced: string, text: string, kind: FailureKind, reason = "") => ({ code, enhanced, text, kind, reason });
  let next: ServerStep;
  try {
    next = await bounded(server.start(initial));
    for (;;) {
      if (next.type === "failure") break;
      const challenge = next.data ?? new Uint8Array(0);
      if (next.type === "success" && challenge.length === 0) return { identity: next.identity };
      await io.challenge(challenge);
      const line = await io.response();
      if (line === "*") return fail(501, "5.7.0", "Authentication cancelled", "cancelled");
      const response = decodeBase64(line);
      if (!response) return fail(501, "5.5.2", "Cannot decode response", "malformed");
      if (next.type === "success") {
        if (response.length) return fail(501, "5.5.2", "Expected an empty response to the final challenge", "malformed");
        return { identity: next.identity };
      }
      next = await bounded(server.step(response));
    }
  } catch (error) {
    if (error instanceof TransportError || error instanceof EndSession) throw error;
    if (error instanceof SaslError && error.code === "invalid-response") return fail(501, "5.5.2", `${mechanism} response malformed`, "malformed");
    const reason = error instanceof Error ? error.message : String(error);
    return fail(454, "4.7.0", "Temporary authentication failure", "temporary", `server half failed: ${reason}`);
  }
  const kind = classifyFailure(next.code, next.message, next.reason);
  switch (kind) {
    case "downgrade":
      return fail(535, "5.7.8", "Authentication failed: channel binding downgrade detected", kind, next.message);
    case "channel-binding":
      return fail(535, "5.7.8", "Authentication failed: channel binding could not be verified", kind, next.message);
    case "authorization":
      return fail(535, "5.7.8", "Authentication credentials invalid (authorization identity refused)", kind, next.message);
    case "malformed":
      return fail(501, "5.5.2", `${mechanism} response malformed`, kind, next.message);
    case "temporary":
      return fail(454, "4.7.0", "Temporary authentication failure", kind, next.message);
    case "cancelled":
      return fail(501, "5.7.0", "Authentication cancelled", kind, next.message);
    case "credentials":
      return fail(535, "5.7.8", "Authentication credentials invalid", kind, next.message);
  }
}

/** The log's words for a failure kind. */
export function describeFailure(kind: FailureKind): string {
  switch (kind) {
    case "credentials":
      return "wrong credentials";
    case "authorization":
      return "authorization identity refused";
    case "channel-binding":
      return "channel binding failure (not a credentials problem)";
    case "downgrade":
      return "channel binding downgrade detected (not a credentials problem)";
    case "malformed":
      return "malformed response";
    case "temporary":
      return "temporary failure";
    case "cancelled":
      return "cancelled by the client";
  }
}

/** `PLAIN AGFsaWNl...` → `PLAIN ****`: never log an initial response. */
export function maskAuth(args: string): string {
  const [name, ir] = args.split(" ", 2);
  return `AUTH ${name ?? ""}${ir !== undefined ? " ****" : ""}`;
}
