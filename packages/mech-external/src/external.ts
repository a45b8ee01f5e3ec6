/**
 * EXTERNAL (RFC 4422 Appendix A): authentication established outside SASL (a TLS client
 * certificate, a Unix socket's peer credentials). The client sends only the authorization
 * identity it wants, or an empty message to act as the identity the server already knows.
 */
import { SaslError, mayActAs, registerMechanism, utf8 } from "@saslkit/core";
import type { ClientContext, MechanismProvider, SaslMechanism, SaslServerMechanism, ServerContext, ServerStep } from "@saslkit/core";

const NAME = "EXTERNAL";

type ClientState = "initial" | "sent" | "done";

/**
 * The client half: one message, the authzid as UTF-8. With no authzid the initial response is an
 * EMPTY array (SMTP `AUTH EXTERNAL =`), never null: null would mean "no initial response".
 */
export class ExternalClient implements SaslMechanism {
  readonly name = NAME;
  readonly #context: ClientContext;
  #state: ClientState = "initial";

  constructor(context: ClientContext) {
    this.#context = context;
  }

  get complete(): boolean {
    return this.#state !== "initial";
  }

  start(): Uint8Array {
    if (this.#state !== "initial") throw new SaslError(NAME, "bad-state", "start() was called twice.");
    const authzid = this.#context.credentials.authzid ?? "";
    if (authzid.includes("\0")) throw new SaslError(NAME, "invalid-credentials-input", "the authorization identity contains a NUL character.");
    if (/\p{Cs}/u.test(authzid)) throw new SaslError(NAME, "invalid-credentials-input", "the authorization identity is not a well-formed Unicode string.");
    this.#state = "sent";
    return utf8(authzid);
  }

  step(_challenge: Uint8Array): Uint8Array {
    // The whole message went as the initial response; EXTERNAL defines no challenge.
    throw new SaslError(NAME, "bad-state", this.#state === "initial" ? "step() was called before start()." : "the server sent a challenge after the only message.");
  }

  finish(_data: Uint8Array | null): void {
    if (this.#state !== "sent") throw new SaslError(NAME, "bad-state", "finish() was called before the message was sent or twice.");
    this.#state = "done";
  }
}

type ServerState = "initial" | "awaiting-message" | "done";

/**
 * The server half. The identity comes from `context.channel.externalIdentity` (the adapter sets
 * it from the client certificate); without one the exchange fails. An empty authzid means "act as
 * that identity"; another authzid needs `callbacks.authorize(external, authzid)` (default: only
 * when equal).
 */
export class ExternalServer implements SaslServerMechanism {
  readonly name = NAME;
  readonly #context: ServerContext;
  #state: ServerState = "initial";

  constructor(context: ServerContext) {
    this.#context = context;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== "initial") throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: an empty challenge asks for the authzid.
      this.#state = "awaiting-message";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#evaluate(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    if (this.#state === "awaiting-message") return this.#evaluate(response);
    throw new SaslError(NAME, "bad-state", this.#state === "initial" ? "step() was called before start()." : "step() was called after the exchange ended.");
  }

  async #evaluate(bytes: Uint8Array): Promise<ServerStep> {
    this.#state = "done";
    let authzid: string;
    try {
      authzid = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return { type: "failure", code: "invalid-response", message: "EXTERNAL: the authorization identity is not valid UTF-8." };
    }
    if (authzid.includes("\0")) return { type: "failure", code: "invalid-response", message: "EXTERNAL: the authorization identity contains a NUL character." };
    const external = this.#context.channel.externalIdentity;
    if (external === undefined || external === "") {
      return { type: "failure", code: "authentication-failed", message: "EXTERNAL: the connection carries no external identity (no client certificate)." };
    }
    if (authzid === "" || authzid === external) return { type: "success", identity: { authcid: external, authzid: external } };
    if (await mayActAs(this.#context.callbacks, external, authzid)) return { type: "success", identity: { authcid: external, authzid } };
    return { type: "failure", code: "authorization-failed", message: "EXTERNAL: the external identity may not act as the requested user." };
  }
}

/**
 * The EXTERNAL provider: priority 100, client-first, needs no credential, and is chosen only when
 * the caller names it (`force` / `order`): whether the channel carries a usable external identity
 * is something only the caller knows.
 */
export const external: MechanismProvider = {
  name: NAME,
  priority: 100,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [],
  explicitOnly: true,
  createClient: (context) => new ExternalClient(context),
  createServer: (context) => new ExternalServer(context),
};

/** Registers `external` in `container` (default: tsyringe's root container). */
export function registerExternal(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(external, container);
}
