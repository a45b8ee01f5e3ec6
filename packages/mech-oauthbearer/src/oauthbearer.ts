/**
 * OAUTHBEARER (RFC 7628): an OAuth 2.0 bearer token sent in a GS2-headed list of 0x01-separated
 * key/value pairs. One client message; on failure the server sends a JSON error as a challenge and
 * the client answers with a single 0x01 (§3.2.3) before the server's final failure.
 */
import { B64TOKEN, SaslError, decodeOAuthError, encodeOAuthError, isTokenRefusal, mayActAs, registerMechanism, utf8 } from "@saslkit/core";
import type {
  AuthIdentity,
  ClientContext,
  MechanismProvider,
  SaslMechanism,
  SaslServerMechanism,
  ServerContext,
  ServerStep,
} from "@saslkit/core";

const NAME = "OAUTHBEARER";
const SEP = "\x01";
const CONTROL = /[\x00-\x1f\x7f]/;

/** GS2 saslname escaping (RFC 5801 §4): `=` → `=3D`, `,` → `=2C`. */
function encodeSaslName(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

/** Reverses `encodeSaslName`; undefined when an `=` starts anything but `=2C` / `=3D`. */
function decodeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

type ClientState = "initial" | "sent" | "aborted" | "done";

/**
 * The client half. `start()` fetches the token (a fresh one when `context.refreshToken` is set)
 * and returns the whole message; a challenge after that is the server's JSON error, answered with
 * the 0x01 abort and recorded in `failureDetail`.
 */
export class OAuthBearerClient implements SaslMechanism {
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
    const { credentials, channel, refreshToken } = this.#context;
    const user = credentials.authzid ?? credentials.username ?? "";
    if (CONTROL.test(user)) throw new SaslError(NAME, "invalid-credentials-input", "the user name contains control characters.");
    const host = channel.host;
    if (host !== undefined && (host === "" || CONTROL.test(host))) {
      throw new SaslError(NAME, "invalid-credentials-input", "the server host name is empty or contains control characters.");
    }
    const port = channel.port;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new SaslError(NAME, "invalid-credentials-input", "the server port is not an integer from 0 to 65535.");
    }
    const token = await credentials.token({ refresh: refreshToken === true });
    if (token === undefined || token === "") {
      throw new SaslError(NAME, "missing-credentials", refreshToken ? "no fresh access token is available for the retry." : "an access token is needed and none was given.");
    }
    if (!B64TOKEN.test(token)) {
      throw new SaslError(NAME, "invalid-credentials-input", "the access token holds characters a bearer token may not contain (RFC 6750 b64token).");
    }
    let message = `n,${user ? `a=${encodeSaslName(user)}` : ""},${SEP}`;
    if (host !== undefined) message += `host=${host}${SEP}`;
    if (port !== undefined) message += `port=${port}${SEP}`;
    message += `auth=Bearer ${token}${SEP}${SEP}`;
    this.#token = token;
    this.#state = "sent";
    return utf8(message);
  }

  step(challenge: Uint8Array): Uint8Array {
    switch (this.#state) {
      case "sent": {
        // RFC 7628 §3.2.2: a challenge here is the server's JSON error. Answer with the
        // mechanism's own abort (0x01) even when the JSON is unreadable: the server is waiting for it.
        const detail = decodeOAuthError(challenge, this.#token);
        this.#token = undefined;
        this.#detail = detail;
        this.#retry = isTokenRefusal(detail) && this.#context.credentials.canRefreshToken;
        this.#state = "aborted";
        return Uint8Array.of(0x01);
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

type ServerState = "initial" | "awaiting-message" | "awaiting-abort" | "done";

/** What a parsed client message holds. `token` is a secret: never put it in a message. */
interface ClientMessage {
  readonly authzid: string;
  readonly token: string;
}

const KVPAIR = /^([A-Za-z]+)=([\x21-\x7e \t\r\n]*)$/;
const AUTH_VALUE = /^Bearer +(\S+)$/i;

/** Parses the client message strictly (RFC 7628 §3.1); a string is the reason it was refused. */
function parseClientMessage(bytes: Uint8Array): ClientMessage | string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return "the client message is not valid UTF-8.";
  }
  const parts = text.split(SEP);
  if (parts.length < 3 || parts[parts.length - 1] !== "" || parts[parts.length - 2] !== "") {
    return "the client message does not end with two 0x01 separators.";
  }
  const header = /^(n|y|p=[^,]*),(?:a=([^,]*))?,$/.exec(parts[0] ?? "");
  if (!header) return "the client message does not start with a GS2 header such as n,a=user,.";
  if (header[1]?.startsWith("p=")) return "OAUTHBEARER does not support channel binding (gs2 flag p).";
  const authzid = header[2] === undefined ? "" : decodeSaslName(header[2]);
  if (authzid === undefined) return "the authorization identity in a= has an invalid = escape.";
  if (header[2] !== undefined && authzid === "") return "the authorization identity in a= is empty.";
  const pairs = new Map<string, string>();
  for (const pair of parts.slice(1, -2)) {
    const kv = KVPAIR.exec(pair);
    if (!kv) return "a key/value pair in the client message is malformed.";
    const key = kv[1] as string;
    if (pairs.has(key)) return `the key "${key}" appears twice in the client message.`;
    pairs.set(key, kv[2] as string);
  }
  const auth = pairs.get("auth");
  if (auth === undefined) return "the client message has no auth= pair.";
  const bearer = AUTH_VALUE.exec(auth);
  if (!bearer || !B64TOKEN.test(bearer[1] as string)) return "the auth= value is not \"Bearer\" followed by a bearer token.";
  return { authzid, token: bearer[1] as string };
}

/**
 * The server half. Validates the token with `callbacks.verifyToken(user, token)`, where `user`
 * is the `a=` identity ("" when none). A refused token is answered with the RFC 7628 JSON error
 * as a challenge; after the client's 0x01 the exchange fails with `authentication-failed`.
 * The `openid-configuration` member comes from `options.oauth.openidConfiguration` when set.
 */
export class OAuthBearerServer implements SaslServerMechanism {
  readonly name = NAME;
  readonly #context: ServerContext;
  #state: ServerState = "initial";

  constructor(context: ServerContext) {
    this.#context = context;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== "initial") throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: an empty challenge asks for the message.
      this.#state = "awaiting-message";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#evaluate(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    switch (this.#state) {
      case "awaiting-message":
        return this.#evaluate(response);
      case "awaiting-abort":
        this.#state = "done";
        if (response.length === 1 && response[0] === 0x01) return { type: "failure", code: "authentication-failed", message: "OAUTHBEARER: the access token was refused." };
        return { type: "failure", code: "invalid-response", message: "OAUTHBEARER: the client did not answer the error with 0x01." };
      case "initial":
        throw new SaslError(NAME, "bad-state", "step() was called before start().");
      case "done":
        throw new SaslError(NAME, "bad-state", "step() was called after the exchange ended.");
    }
  }

  async #evaluate(bytes: Uint8Array): Promise<ServerStep> {
    this.#state = "done";
    const message = parseClientMessage(bytes);
    if (typeof message === "string") return { type: "failure", code: "invalid-response", message: `OAUTHBEARER: ${message}` };
    const { callbacks, options } = this.#context;
    if (!callbacks.verifyToken) return { type: "failure", code: "authentication-failed", message: "OAUTHBEARER: this server cannot verify tokens." };
    const verdict = await callbacks.verifyToken(message.authzid, message.token);
    if (!verdict.valid) {
      const oauth = options["oauth"] as { readonly openidConfiguration?: unknown } | undefined;
      const openid = typeof oauth?.openidConfiguration === "string" ? oauth.openidConfiguration : undefined;
      this.#state = "awaiting-abort";
      return { type: "challenge", data: encodeOAuthError(verdict, openid) };
    }
    const identity: AuthIdentity = { authcid: verdict.user, authzid: message.authzid || verdict.user };
    if (!(await mayActAs(callbacks, identity.authcid, identity.authzid))) {
      return { type: "failure", code: "authorization-failed", message: "OAUTHBEARER: the token's owner may not act as the requested user." };
    }
    return { type: "success", identity };
  }
}

/** The OAUTHBEARER provider: priority 650, client-first, needs a token (a user name is optional). */
export const oauthBearer: MechanismProvider = {
  name: NAME,
  priority: 650,
  clientFirst: true,
  // A bearer token is replayable by whoever reads it, like a password.
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false },
  needs: ["token"],
  createClient: (context) => new OAuthBearerClient(context),
  createServer: (context) => new OAuthBearerServer(context),
};

/** Registers `oauthBearer` in `container` (default: tsyringe's root container). */
export function registerOAuthBearer(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(oauthBearer, container);
}
