/**
 * XOAUTH2 (Google's and Microsoft's pre-RFC 7628 OAuth 2.0 mechanism; not an RFC):
 * `user=<user>^Aauth=Bearer <token>^A^A`. On failure the server sends a JSON error as a
 * challenge and the client answers with an empty response before the server's final failure.
 * IANA lists XOAUTH2 as obsolete in favour of OAUTHBEARER, which negotiation prefers.
 */
import { B64TOKEN, SaslError, decodeOAuthError, encodeOAuthError, isTokenRefusal, mayActAs, registerMechanism, utf8 } from "@saslkit/core";
import type { AuthIdentity, ClientContext, MechanismProvider, SaslMechanism, SaslServerMechanism, ServerContext, ServerStep } from "@saslkit/core";

const NAME = "XOAUTH2";
const SEP = "\x01";
const CONTROL = /[\x00-\x1f\x7f]/;

type ClientState = "initial" | "sent" | "aborted" | "done";

/**
 * The client half. `start()` fetches the token (a fresh one when `context.refreshToken` is set)
 * and returns the whole message; a challenge after that is the server's JSON error, answered with
 * an empty response and recorded in `failureDetail`.
 */
export class XOAuth2Client implements SaslMechanism {
  readonly name = NAME;
  readonly #context: ClientContext;
  #state: ClientState = "initial";
  #detail: Readonly<Record<string, unknown>> | undefined;
  #retry = false;
  /** Held only between start and the server's answer, to scrub an echo of it from the detail. */
  #token: string | undefined;

  constructor(context: ClientContext) {
    this.#context = context;
  }

  get complete(): boolean {
    return this.#state === "sent" || this.#state === "done";
  }

  get failureDetail(): Readonly<Record<string, unknown>> | undefined {
    return this.#detail;
  }

  get retryWithFreshCredentials(): boolean {
    return this.#retry;
  }

  async start(): Promise<Uint8Array> {
    if (this.#state !== "initial") throw new SaslError(NAME, "bad-state", "start() was called twice.");
    const { credentials, refreshToken } = this.#context;
    const user = credentials.username ?? "";
    if (user === "") throw new SaslError(NAME, "missing-credentials", "a user name is needed and none was given.");
    if (CONTROL.test(user)) throw new SaslError(NAME, "invalid-credentials-input", "the user name contains control characters.");
    if (credentials.authzid !== undefined && credentials.authzid !== user) {
      throw new SaslError(NAME, "invalid-credentials-input", "XOAUTH2 cannot carry an authorization identity other than the user name.");
    }
    const token = await credentials.token({ refresh: refreshToken === true });
    if (token === undefined || token === "") {
      throw new SaslError(NAME, "missing-credentials", refreshToken ? "no fresh access token is available for the retry." : "an access token is needed and none was given.");
    }
    if (!B64TOKEN.test(token)) {
      throw new SaslError(NAME, "invalid-credentials-input", "the access token holds characters a bearer token may not contain (RFC 6750 b64token).");
    }
    this.#token = token;
    this.#state = "sent";
    return utf8(`user=${user}${SEP}auth=Bearer ${token}${SEP}${SEP}`);
  }

  step(challenge: Uint8Array): Uint8Array {
    switch (this.#state) {
      case "sent": {
        // The challenge is the server's JSON error; it waits for an empty response before its
        // final failure, so send one even when the JSON is unreadable.
        const detail = decodeOAuthError(challenge, this.#token);
        this.#token = undefined;
        this.#detail = detail;
        this.#retry = isTokenRefusal(detail) && this.#context.credentials.canRefreshToken;
        this.#state = "aborted";
        return new Uint8Array(0);
      }
      case "initial":
        throw new SaslError(NAME, "bad-state", "step() was called before start().");
      case "aborted":
        throw new SaslError(NAME, "bad-state", "the server sent another challenge after its error; the exchange is over.");
      case "done":
        throw new SaslError(NAME, "bad-state", "step() was called after the exchange completed.");
    }
  }

  finish(_data: Uint8Array | null): void {
    if (this.#state === "aborted") throw new SaslError(NAME, "server-error", "the server reported success after it had refused the token.");
    if (this.#state !== "sent") throw new SaslError(NAME, "bad-state", "finish() was called before the message was sent or twice.");
    this.#token = undefined;
    this.#state = "done";
  }
}

type ServerState = "initial" | "awaiting-message" | "awaiting-answer" | "done";

const USER = /^user=([^\x00-\x1f\x7f]+)$/;
const AUTH = /^auth=Bearer +(\S+)$/i;

/** Parses `user=..^Aauth=Bearer ..^A^A` strictly; a string is the reason it was refused. */
function parseClientMessage(bytes: Uint8Array): { readonly user: string; readonly token: string } | string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return "the client message is not valid UTF-8.";
  }
  const parts = text.split(SEP);
  if (parts.length !== 4 || parts[2] !== "" || parts[3] !== "") return "the client message is not user=...^Aauth=Bearer ...^A^A.";
  const user = USER.exec(parts[0] ?? "");
  if (!user) return "the client message does not start with a user= pair.";
  const auth = AUTH.exec(parts[1] ?? "");
  if (!auth || !B64TOKEN.test(auth[1] as string)) return "the auth= value is not \"Bearer\" followed by a bearer token.";
  return { user: user[1] as string, token: auth[1] as string };
}

/**
 * The server half. Validates the token with `callbacks.verifyToken(user, token)`. A refused token
 * is answered with the JSON error as a challenge; after the client's (empty) answer the exchange
 * fails with `authentication-failed`. A token whose owner differs from `user=` needs
 * `callbacks.authorize(owner, user)`.
 */
export class XOAuth2Server implements SaslServerMechanism {
  readonly name = NAME;
  readonly #context: ServerContext;
  #state: ServerState = "initial";

  constructor(context: ServerContext) {
    this.#context = context;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== "initial") throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response (Office 365 style `AUTH XOAUTH2` → `334`): ask for the message.
      this.#state = "awaiting-message";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#evaluate(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    switch (this.#state) {
      case "awaiting-message":
        return this.#evaluate(response);
      case "awaiting-answer":
        this.#state = "done";
        if (response.length === 0) return { type: "failure", code: "authentication-failed", message: "XOAUTH2: the access token was refused." };
        return { type: "failure", code: "invalid-response", message: "XOAUTH2: the client did not answer the error with an empty response." };
      case "initial":
        throw new SaslError(NAME, "bad-state", "step() was called before start().");
      case "done":
        throw new SaslError(NAME, "bad-state", "step() was called after the exchange ended.");
    }
  }

  async #evaluate(bytes: Uint8Array): Promise<ServerStep> {
    this.#state = "done";
    const message = parseClientMessage(bytes);
    if (typeof message === "string") return { type: "failure", code: "invalid-response", message: `XOAUTH2: ${message}` };
    const { callbacks } = this.#context;
    if (!callbacks.verifyToken) return { type: "failure", code: "authentication-failed", message: "XOAUTH2: this server cannot verify tokens." };
    const verdict = await callbacks.verifyToken(message.user, message.token);
    if (!verdict.valid) {
      this.#state = "awaiting-answer";
      return { type: "challenge", data: encodeOAuthError(verdict) };
    }
    const identity: AuthIdentity = { authcid: verdict.user, authzid: message.user };
    if (!(await mayActAs(callbacks, identity.authcid, identity.authzid))) {
      return { type: "failure", code: "authorization-failed", message: "XOAUTH2: the token's owner may not act as the requested user." };
    }
    return { type: "success", identity };
  }
}

/** The XOAUTH2 provider: priority 640 (just below OAUTHBEARER), client-first, needs a user name and a token. */
export const xoauth2: MechanismProvider = {
  name: NAME,
  priority: 640,
  clientFirst: true,
  // A bearer token is replayable by whoever reads it, like a password.
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false },
  needs: ["username", "token"],
  createClient: (context) => new XOAuth2Client(context),
  createServer: (context) => new XOAuth2Server(context),
};

/** Registers `xoauth2` in `container` (default: tsyringe's root container). */
export function registerXOAuth2(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(xoauth2, container);
}
