/**
 * EXTERNAL (RFC 4422 Appendix A): authentication established outside SASL (a TLS client
 * certificate, a Unix socket's peer credentials). The client sends only the authorization
 * identity it wants, or an empty message to act as the identity the server already knows.
 */
import { OneMessageClient, OneMessageServer, SaslError, hasLoneSurrogate, mayActAs, registerMechanism, utf8 } from "@saslkit/core";
import type { ClientContext, MechanismProvider, ServerStep } from "@saslkit/core";

const NAME = "EXTERNAL";

/**
 * The client half: one message, the authzid as UTF-8. With no authzid the initial response is an
 * EMPTY array (SMTP `AUTH EXTERNAL =`), never null: null would mean "no initial response".
 * States and call-order errors are core's `OneMessageClient`.
 */
export class ExternalClient extends OneMessageClient {
  readonly name = NAME;

  protected override message(context: ClientContext): Uint8Array {
    const authzid = context.credentials.authzid ?? "";
    if (authzid.includes("\0")) throw new SaslError(NAME, "invalid-credentials-input", "the authorization identity contains a NUL character.");
    if (hasLoneSurrogate(authzid)) throw new SaslError(NAME, "invalid-credentials-input", "the authorization identity is not a well-formed Unicode string.");
    return utf8(authzid);
  }
}

/**
 * The server half. The identity comes from `context.channel.externalIdentity` (the adapter sets
 * it from the client certificate); without one the exchange fails. An empty authzid means "act as
 * that identity"; another authzid needs `callbacks.authorize(external, authzid)` (default: only
 * when equal). States and call-order errors are core's `OneMessageServer`.
 */
export class ExternalServer extends OneMessageServer {
  readonly name = NAME;

  protected override async evaluate(bytes: Uint8Array): Promise<ServerStep> {
    let authzid: string;
    try {
      authzid = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return { type: "failure", code: "invalid-response", message: "EXTERNAL: the authorization identity is not valid UTF-8." };
    }
    if (authzid.includes("\0")) return { type: "failure", code: "invalid-response", message: "EXTERNAL: the authorization identity contains a NUL character." };
    const external = this.context.channel.externalIdentity;
    if (external === undefined || external === "") {
      return { type: "failure", code: "authentication-failed", message: "EXTERNAL: the connection carries no external identity (no client certificate)." };
    }
    if (authzid === "" || authzid === external) return { type: "success", identity: { authcid: external, authzid: external } };
    if (await mayActAs(this.context.callbacks, external, authzid)) return { type: "success", identity: { authcid: external, authzid } };
    return { type: "failure", code: "authorization-failed", message: "EXTERNAL: the external identity may not act as the requested user." };
  }
}

/**
 * When negotiation picks EXTERNAL without being asked: the caller gave the adapter a client
 * certificate (`channel.clientCertificate`), the channel is TLS, and no password, token or other
 * secret was given (with a secret the caller means the password mechanisms, which keep their
 * order). docs/decisions/0005-external-with-a-client-certificate.md.
 *
 * Otherwise the answer names every condition not met, so that the reason shown (`saslkit probe`,
 * `NoMechanismError`) is the whole rule: a caller with a password and no certificate reads "when
 * a client certificate is given and no password or other secret is given", not only the first half.
 */
export function externalImplied(context: ClientContext): string | undefined {
  const certificate = context.channel.clientCertificate === true;
  const tls = context.channel.secure;
  const secret = context.credentials.hasSecret;
  if (certificate && tls && !secret) return undefined;
  const conditions = [...(certificate ? [] : ["a client certificate is given"]), ...(secret ? ["no password or other secret is given"] : [])].join(" and ");
  if (tls) return `when ${conditions}`;
  return conditions ? `over TLS when ${conditions}` : "over TLS";
}

/**
 * The EXTERNAL provider: priority 100, client-first, needs no credential. Chosen when the caller
 * names it (`force` / `order`), or unasked when `externalImplied` says the caller gave a client
 * certificate and no secret over TLS.
 */
export const external: MechanismProvider = {
  name: NAME,
  priority: 100,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false, channelIdentity: true },
  needs: [],
  explicitOnly: true,
  autoSelect: externalImplied,
  serverCallbacks: ["authorize"],
  createClient: (context) => new ExternalClient(context),
  createServer: (context) => new ExternalServer(context),
};

/** Registers `external` in `container` (default: tsyringe's root container). */
export function registerExternal(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(external, container);
}
