/**
 * CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client answers
 * `user SP hex(HMAC-MD5(password, challenge))`.
 *
 * The password never crosses the wire, but the server must keep it in plaintext (or an
 * equivalent), and a captured exchange allows an offline dictionary attack. Prefer SCRAM.
 */
import { createHmac, randomBytes } from "node:crypto";
import {
  CallGuard,
  SaslError,
  constantTimeEqual,
  decodeUtf8,
  registerMechanism,
  requirePassword,
  requireUsername,
  requireWellFormed,
  utf8,
  type ClientContext,
  type Credentials,
  type MechanismProvider,
  type SaslMechanism,
  type SaslServerMechanism,
  type ServerCallbacks,
  type ServerContext,
  type ServerStep,
  PASSWORD,
  USERNAME,
  type CredentialPreparation,
} from "@saslkit/core";

const NAME = "CRAM-MD5";

/**
 * Largest challenge the client accepts, in bytes. RFC 2195 challenges are short msg-ids
 * (`<1896.697170952@postoffice.reston.mci.net>`); anything past 1 KiB is not CRAM-MD5.
 */
export const CRAM_MD5_MAX_CHALLENGE_BYTES = 1024;

/** Largest client response the server half accepts, in bytes (`user SP 32 hex digits`). */
export const CRAM_MD5_MAX_RESPONSE_BYTES = 1024;

/** HMAC-MD5 of `challenge` keyed with the UTF-8 password, as 32 lower-case hex digits (RFC 2195 §2). */
export function cramMd5Digest(password: string, challenge: Uint8Array): string {
  return createHmac("md5", utf8(password)).update(challenge).digest("hex");
}

/** The client's states. */
export const CramMd5ClientState = {
  /** Waiting for the server's challenge. */
  awaitingChallenge: "awaitingChallenge",
  /** The response was sent. Any further challenge is `bad-state`. */
  done: "done",
} as const;
export type CramMd5ClientState = (typeof CramMd5ClientState)[keyof typeof CramMd5ClientState];

/**
 * CRAM-MD5 client. `start()` returns null (server-first). `step(challenge)` hashes the raw
 * challenge bytes as received, without decoding them. A challenge that is not UTF-8, or not a
 * well-formed msg-id (CPython's test omits the closing `>`), is hashed as is. Refused
 * challenges: empty, or longer than `CRAM_MD5_MAX_CHALLENGE_BYTES` (`invalid-challenge`).
 * A second challenge is `bad-state`, and so is a step while the first is still reading the
 * password (which then completes unchanged). Credential errors: `missing-credentials` for an absent
 * username or password, `invalid-credentials-input` for an empty username or a lone surrogate.
 * With `context.prepare` `"saslprep"` both are SASLprep'd first, as GNU SASL does (opt-in, see
 * core's prepare.ts).
 */
export class CramMd5Client implements SaslMechanism {
  readonly name = NAME;
  #state: CramMd5ClientState = CramMd5ClientState.awaitingChallenge;
  #started = false;
  /** The step reads the password: another call meanwhile is refused. */
  readonly #calls = new CallGuard();
  readonly #credentials: Credentials;
  readonly #prepare: CredentialPreparation | undefined;

  constructor(context: Pick<ClientContext, "credentials"> & Partial<Pick<ClientContext, "prepare">>) {
    this.#credentials = context.credentials;
    this.#prepare = context.prepare;
  }

  get state(): CramMd5ClientState {
    return this.#state;
  }

  get complete(): boolean {
    return this.#state === CramMd5ClientState.done;
  }

  /** True once the digest of the password was produced: no fallback after it. */
  get secretUsed(): boolean {
    return this.#state === CramMd5ClientState.done;
  }

  start(): null {
    if (this.#started) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    this.#started = true;
    this.#username(); // fail before contacting the server
    if (!this.#credentials.has(PASSWORD)) throw new SaslError(NAME, "missing-credentials", "a password is required.");
    return null;
  }

  async step(challenge: Uint8Array): Promise<Uint8Array> {
    this.#calls.check(NAME, "step()");
    if (this.#state === CramMd5ClientState.done) throw new SaslError(NAME, "bad-state", "the exchange is already complete; CRAM-MD5 answers one challenge.");
    if (challenge.length === 0) throw new SaslError(NAME, "invalid-challenge", "challenge is empty.");
    if (challenge.length > CRAM_MD5_MAX_CHALLENGE_BYTES) {
      throw new SaslError(NAME, "invalid-challenge", `a challenge of ${challenge.length} bytes exceeds the ${CRAM_MD5_MAX_CHALLENGE_BYTES}-byte limit.`);
    }
    const username = this.#username();
    const password = await this.#calls.hold(() => requirePassword(this.#credentials, NAME, this.#prepare));
    requireWellFormed(password, NAME, "password");
    this.#state = CramMd5ClientState.done;
    return utf8(`${username} ${cramMd5Digest(password, challenge)}`);
  }

  finish(_data: Uint8Array | null = null): void {
    if (this.#state !== CramMd5ClientState.done) throw new SaslError(NAME, "bad-state", "the server reported success before CRAM-MD5 answered its challenge.");
  }

  #username(): string {
    const username = requireUsername(this.#credentials, NAME, this.#prepare);
    requireWellFormed(username, NAME, "username");
    return username;
  }
}

/** The server half's states. */
export const CramMd5ServerState = {
  initial: "initial",
  /** The challenge was sent. */
  awaitingResponse: "awaitingResponse",
  done: "done",
} as const;
export type CramMd5ServerState = (typeof CramMd5ServerState)[keyof typeof CramMd5ServerState];

/** A fresh RFC 2195 challenge: `<random.timestamp@hostname>`, the random part from `crypto.randomBytes`. */
export function makeCramMd5Challenge(hostname: string): string {
  const random = randomBytes(8).readBigUInt64BE().toString();
  return `<${random}.${Date.now()}@${hostname || "localhost"}>`;
}

/** Extra settings for the server half; not read from `ServerContext.options`, so no config file can pin a challenge. */
export interface CramMd5ServerSettings {
  /**
   * Produces the challenge. Default `makeCramMd5Challenge(context.hostname)`. A replacement must
   * return a different value on every exchange. Only tests should set it, to replay RFC 2195.
   */
  readonly makeChallenge?: () => string;
}

/**
 * CRAM-MD5 server half. `start(null)` sends a unique challenge; `step(response)` parses
 * `user SP digest` (split at the last space, so user names may contain spaces; the digest is 32
 * hex digits, either case), looks the password up with `callbacks.lookupPassword`, and compares
 * the digests in constant time. Unknown users cost the same HMAC as known ones. Failures:
 * `invalid-response` for an initial response (CRAM-MD5 has none), a malformed, oversized or
 * non-UTF-8 response; `authentication-failed` for a wrong digest, an unknown user or a missing
 * callback. The identity is the user, acting as itself. Errors thrown by callbacks propagate.
 */
export class CramMd5Server implements SaslServerMechanism {
  readonly name = NAME;
  #state: CramMd5ServerState = CramMd5ServerState.initial;
  #challenge: Uint8Array = new Uint8Array(0);
  readonly #callbacks: ServerCallbacks;
  readonly #makeChallenge: () => string;

  constructor(context: Pick<ServerContext, "callbacks" | "hostname">, settings: CramMd5ServerSettings = {}) {
    this.#callbacks = context.callbacks;
    this.#makeChallenge = settings.makeChallenge ?? (() => makeCramMd5Challenge(context.hostname));
  }

  get state(): CramMd5ServerState {
    return this.#state;
  }

  start(initial: Uint8Array | null): ServerStep {
    if (this.#state !== CramMd5ServerState.initial) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial !== null) {
      this.#state = CramMd5ServerState.done;
      return { type: "failure", code: "invalid-response", message: "CRAM-MD5 takes no initial response." };
    }
    this.#challenge = utf8(this.#makeChallenge());
    this.#state = CramMd5ServerState.awaitingResponse;
    return { type: "challenge", data: this.#challenge };
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    if (this.#state !== CramMd5ServerState.awaitingResponse) {
      throw new SaslError(NAME, "bad-state", this.#state === CramMd5ServerState.done ? "the exchange is already over." : "step() was called before start().");
    }
    this.#state = CramMd5ServerState.done;
    const invalid = (message: string): ServerStep => ({ type: "failure", code: "invalid-response", message });
    if (response.length > CRAM_MD5_MAX_RESPONSE_BYTES) return invalid(`CRAM-MD5 response is longer than ${CRAM_MD5_MAX_RESPONSE_BYTES} bytes.`);
    let text: string;
    try {
      text = decodeUtf8(response, NAME, "response", "invalid-response");
    } catch {
      return invalid("CRAM-MD5 response is not valid UTF-8.");
    }
    const space = text.lastIndexOf(" ");
    const user = text.slice(0, Math.max(space, 0));
    const hex = text.slice(space + 1);
    if (space <= 0 || !/^[0-9a-fA-F]{32}$/.test(hex)) return invalid("CRAM-MD5 response must be a user name, a space and 32 hex digits.");

    const password = await this.#callbacks.lookupPassword?.call(this.#callbacks, user);
    // Unknown users get a digest with a random key, so timing does not tell which names exist.
    const expected = createHmac("md5", password === undefined ? randomBytes(16) : utf8(password)).update(this.#challenge).digest();
    const matches = constantTimeEqual(expected, Buffer.from(hex, "hex"));
    if (password === undefined || !matches) return { type: "failure", code: "authentication-failed", message: "Authentication failed." };
    return { type: "success", identity: { authcid: user, authzid: user } };
  }
}

/** The CRAM-MD5 provider: priority 400, server-first, no secret in clear. */
export const cramMd5: MechanismProvider = {
  name: NAME,
  priority: 400,
  clientFirst: false,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [USERNAME, PASSWORD],
  serverCallbacks: ["lookupPassword"],
  createClient: (context) => new CramMd5Client(context),
  createServer: (context) => new CramMd5Server(context),
};

/** Registers `cramMd5` into `container` (default: tsyringe's root container). */
export function registerCramMd5(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(cramMd5, container);
}
