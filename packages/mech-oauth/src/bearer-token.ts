/**
 * The OAuth 2.0 bearer-token mechanisms, written once: OAUTHBEARER (RFC 7628) and XOAUTH2
 * (Google's and Microsoft's older form) run the same exchange and differ only in how the client
 * message is encoded and in the client's answer to the server's error (OAUTHBEARER 0x01, XOAUTH2
 * an empty response).
 *
 * The exchange: the client sends one message carrying the token. The server accepts, or sends the
 * JSON error of oauth-error.ts as a challenge; the client answers it with its abort response, and
 * the server then fails the exchange. A refused token that a `TokenProvider` can renew makes the
 * session driver retry once with a fresh one.
 *
 * Each mechanism (oauthbearer.ts, xoauth2.ts) extends `BearerTokenClient` and
 * `BearerTokenServer` with its encoding. Internal to this package.
 */
import { CallGuard, OneMessageServer, SaslError, mayActAs, utf8, type AuthIdentity, type ClientContext, type Credentials, type SaslMechanism, type ServerOutcome, type ServerStep } from "@saslkit/core";
import { TOKEN, TOKEN_PROVIDER } from "./credentials.js";
import { B64TOKEN, decodeOAuthError, encodeOAuthError, isTokenRefusal } from "./oauth-error.js";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The access token for this attempt: on the retry (`fresh`) a new one from the token provider,
 * else the given token, else the provider's. Undefined when there is none to use.
 */
async function readToken(credentials: Credentials, fresh: boolean): Promise<string | undefined> {
  const request = { refresh: fresh, ...(credentials.username !== undefined ? { username: credentials.username } : {}) };
  if (fresh) return credentials.has(TOKEN_PROVIDER) ? credentials.get(TOKEN_PROVIDER, request) : undefined;
  return credentials.get(TOKEN, request);
}

/** The client half's states: `aborted` means the server sent its error and got the abort response. */
export type BearerTokenClientState = "initial" | "sent" | "aborted" | "done";

/**
 * The client half of a bearer-token mechanism.
 *
 * - `start()`: `prepare(context)` validates what is not secret (user, host, port) and returns the
 *   encoder of the message; only then is the token fetched (the `token` credential or the
 *   `tokenProvider`'s; on the driver's retry, `context.freshCredentials`, a fresh one from the provider). No token (or an empty one) is
 *   `missing-credentials`; a token outside RFC 6750's b64token alphabet is
 *   `invalid-credentials-input`. Returns the encoded message (never null). A second call, also
 *   while the first is still fetching the token, is `bad-state` (the first completes unchanged).
 * - `step(challenge)` once after `start()`: the challenge is the server's JSON error. It is decoded
 *   into `failureDetail` (never throws; an echo of the token is scrubbed, see
 *   `decodeOAuthError`), `retryWithFreshCredentials` is set when the token was refused and the
 *   credentials can supply a fresh one, and the abort response is returned. Any other step is
 *   `bad-state`.
 * - `finish()` once after `start()`; after the server's error it is `server-error` (success
 *   after a refusal), otherwise `bad-state`.
 * - `complete` is true once the message was sent, and false again after the server's error.
 *
 * The token is held only between `start()` and the server's answer. Messages never contain it.
 */
export abstract class BearerTokenClient implements SaslMechanism {
  abstract readonly name: string;
  readonly #context: ClientContext;
  #state: BearerTokenClientState = "initial";
  #detail: Readonly<Record<string, unknown>> | undefined;
  #retry = false;
  /** `start()` is fetching the token: a second `start()` is refused. */
  readonly #calls = new CallGuard();
  /** Held only between start and the server's answer, to scrub an echo of it from the detail. */
  #token: string | undefined;

  constructor(context: ClientContext) {
    this.#context = context;
  }

  /**
   * Validates the mechanism's non-secret inputs from `context` (throw a `SaslError` to refuse)
   * and returns the function that encodes the whole client message around a valid token.
   */
  protected abstract prepare(context: ClientContext): (token: string) => string;

  /** The answer to the server's JSON error: a fresh array each call. */
  protected abstract abortResponse(): Uint8Array;

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
    if (this.#state !== "initial" || this.#calls.busy) throw new SaslError(this.name, "bad-state", "start() was called twice.");
    const encode = this.prepare(this.#context);
    const { credentials, freshCredentials } = this.#context;
    const token = await this.#calls.hold(() => readToken(credentials, freshCredentials === true));
    if (token === undefined || token === "") {
      throw new SaslError(this.name, "missing-credentials", freshCredentials ? "no fresh access token is available for the retry." : "an access token is needed and none was given.");
    }
    if (!B64TOKEN.test(token)) {
      throw new SaslError(this.name, "invalid-credentials-input", "the access token holds characters a bearer token may not contain (RFC 6750 b64token).");
    }
    const message = utf8(encode(token));
    this.#token = token;
    this.#state = "sent";
    return message;
  }

  step(challenge: Uint8Array): Uint8Array {
    switch (this.#state) {
      case "sent": {
        // RFC 7628 §3.2.2: a challenge here is the server's JSON error. Answer with the
        // mechanism's abort even when the JSON is unreadable: the server is waiting for it.
        const detail = decodeOAuthError(challenge, this.#token);
        this.#token = undefined;
        this.#detail = detail;
        // One retry with a fresh token, and only from a token provider.
        this.#retry = isTokenRefusal(detail) && this.#context.freshCredentials !== true && this.#context.credentials.has(TOKEN_PROVIDER);
        this.#state = "aborted";
        return this.abortResponse();
      }
      case "initial":
        throw new SaslError(this.name, "bad-state", "step() was called before start().");
      case "aborted":
        throw new SaslError(this.name, "bad-state", "the server sent another challenge after its error; the exchange is over.");
      case "done":
        throw new SaslError(this.name, "bad-state", "step() was called after the exchange completed.");
    }
  }

  finish(_data: Uint8Array | null): void {
    if (this.#state === "aborted") throw new SaslError(this.name, "server-error", "the server reported success after it had refused the token.");
    if (this.#state !== "sent") throw new SaslError(this.name, "bad-state", "finish() was called before the message was sent or twice.");
    this.#token = undefined;
    this.#state = "done";
  }
}

/** A client message as the server half reads it. `token` is a secret: never put it in a message. */
export interface BearerTokenMessage {
  /** The user the client asks to be ("" when it named none); passed to `verifyToken`. */
  readonly user: string;
  readonly token: string;
}

/**
 * The server half of a bearer-token mechanism, on core's `OneMessageServer` (message as initial
 * response or after an empty challenge; call-order errors).
 *
 * Evaluating the message: it must be UTF-8 (else `invalid-response`, "<NAME>: the client
 * message is not valid UTF-8."); `parse` gets it split at every 0x01, the separator both formats
 * use (a string refusal becomes `invalid-response`, "<NAME>: <reason>"); without `callbacks.verifyToken` fail with `authentication-failed`; ask
 * `verifyToken(user, token)`. A refused token is answered with the JSON error challenge (with
 * `openidConfiguration()` when set) and the client's answer then ends the exchange:
 * `authentication-failed` when it is the abort response (`isAbort`), `invalid-response`
 * otherwise. A valid token authenticates its owner, acting as `user` (or as itself when `user`
 * is empty), which `mayActAs` must allow (`authorization-failed` otherwise).
 */
export abstract class BearerTokenServer extends OneMessageServer {
  /**
   * Parses the client message strictly, given as its fields: the UTF-8 text split at every 0x01,
   * so a well-formed message ends with two empty fields. A string is the reason it was refused
   * (never quoting the token).
   */
  protected abstract parse(fields: readonly string[]): BearerTokenMessage | string;

  /** True when `response` is the mechanism's abort response. */
  protected abstract isAbort(response: Uint8Array): boolean;

  /** The abort response in words, for the refusal of a wrong one ("0x01"). */
  protected abstract readonly abortDescription: string;

  /** The `openid-configuration` member of the JSON error, if the mechanism sends one. Default none. */
  protected openidConfiguration(): string | undefined {
    return undefined;
  }

  protected override async evaluate(bytes: Uint8Array): Promise<ServerStep> {
    let text: string;
    try {
      text = strict.decode(bytes);
    } catch {
      return { type: "failure", code: "invalid-response", message: `${this.name}: the client message is not valid UTF-8.` };
    }
    const message = this.parse(text.split("\x01"));
    if (typeof message === "string") return { type: "failure", code: "invalid-response", message: `${this.name}: ${message}` };
    const { callbacks } = this.context;
    if (!callbacks.verifyToken) return { type: "failure", code: "authentication-failed", message: `${this.name}: this server cannot verify tokens.` };
    const verdict = await callbacks.verifyToken(message.user, message.token);
    if (!verdict.valid) return { type: "challenge", data: encodeOAuthError(verdict, this.openidConfiguration()) };
    const identity: AuthIdentity = { authcid: verdict.user, authzid: message.user || verdict.user };
    if (!(await mayActAs(callbacks, identity.authcid, identity.authzid))) {
      return { type: "failure", code: "authorization-failed", message: `${this.name}: the token's owner may not act as the requested user.` };
    }
    return { type: "success", identity };
  }

  protected override answer(response: Uint8Array): ServerOutcome {
    if (this.isAbort(response)) return { type: "failure", code: "authentication-failed", message: `${this.name}: the access token was refused.` };
    return { type: "failure", code: "invalid-response", message: `${this.name}: the client did not answer the error with ${this.abortDescription}.` };
  }
}
