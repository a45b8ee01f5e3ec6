/**
 * PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, UTF-8, sent in one client message.
 *
 * The password crosses the wire as is, so PLAIN is only safe over TLS (or to a loopback peer);
 * the provider declares `sendsSecretInClear` and negotiation enforces that policy.
 */
import { PASSWORD, SaslError, USERNAME, hasLoneSurrogate, prepareCredential, type CredentialPreparation, decodeUtf8, mayActAs, readPassword, registerMechanism, requireWellFormed, splitBytes, utf8, type AuthIdentity, type ClientContext, type Credentials, type MaybePromise, type MechanismProvider, type SaslMechanism, type SaslServerMechanism, type ServerCallbacks, type ServerContext, type ServerStep } from "@saslkit/core";

const NAME = "PLAIN";
const NUL = 0;

/**
 * Largest authzid, authcid and passwd the server half accepts, in UTF-8 octets. RFC 4616 §2
 * requires servers to accept at least 255 octets for each; saslkit accepts exactly that much.
 */
export const PLAIN_MAX_FIELD_OCTETS = 255;

/** The client half's states: before `start`, message produced, server reported success. */
export const PlainClientState = {
  /** Nothing produced yet. */
  initial: "initial",
  /** `start` produced the message; PLAIN has nothing more to say, so every challenge is refused. */
  sent: "sent",
  /** The server reported success (`finish`). */
  done: "done",
} as const;
export type PlainClientState = (typeof PlainClientState)[keyof typeof PlainClientState];

function checkField(value: string, what: string): void {
  if (value.includes("\0")) throw new SaslError(NAME, "invalid-credentials-input", `the ${what} contains a NUL character, which PLAIN cannot carry.`);
  requireWellFormed(value, NAME, what);
}

/**
 * Builds the PLAIN message from credentials, validating them (RFC 4616 §2):
 * - `missing-credentials` when the username or password is absent;
 * - `invalid-credentials-input` for an empty username or password, or a NUL (or lone surrogate)
 *   in any field.
 * An absent or empty authzid means "act as myself" and is sent as nothing before the first NUL.
 * With `preparation` `"saslprep"` the username and password are SASLprep'd first (RFC 4616 §2
 * recommends it; opt-in, see core's prepare.ts); the authzid is sent as given.
 */
export async function buildPlainMessage(credentials: Credentials, preparation?: CredentialPreparation): Promise<Uint8Array> {
  return plainMessage(credentials, preparation);
}

/** `buildPlainMessage` without a promise when the password was given as a value. */
function plainMessage(credentials: Credentials, preparation: CredentialPreparation | undefined): MaybePromise<Uint8Array> {
  const given = credentials.username;
  if (given === undefined) throw new SaslError(NAME, "missing-credentials", "a username is required.");
  const password = readPassword(credentials, NAME, preparation);
  if (typeof password === "string") return composePlain(credentials, given, password, preparation);
  return password.then((value) => composePlain(credentials, given, value, preparation));
}

function composePlain(credentials: Credentials, given: string, password: string, preparation: CredentialPreparation | undefined): Uint8Array {
  if (given === "") throw new SaslError(NAME, "invalid-credentials-input", "the username is empty.");
  const username = prepareCredential(given, preparation, "the username", NAME);
  if (password === "") throw new SaslError(NAME, "invalid-credentials-input", "the password is empty (RFC 4616 requires at least one character).");
  const authzid = credentials.authzid ?? "";
  const message = `${authzid}\0${username}\0${password}`;
  // A separator is not a surrogate, so a lone surrogate in a field stays lone in the joined text:
  // one test of the message on every connection; the checks per field run only to name the one
  // that failed (the same error, in the same order, as checking each first).
  if (authzid.includes("\0") || username.includes("\0") || password.includes("\0") || hasLoneSurrogate(message)) {
    checkFields(authzid, username, password);
  }
  // One encoding of the joined text: the fields hold no NUL and no lone surrogate (checked above).
  return utf8(message);
}

/** The checks of each field in order; throws the first field's error. */
function checkFields(authzid: string, username: string, password: string): void {
  checkField(authzid, "authorization identity");
  checkField(username, "username");
  checkField(password, "password");
}

/**
 * PLAIN client. `start()` returns the message (never null: PLAIN is client-first); it is the
 * only message, so it carries the password exactly once per exchange. `step()` is always
 * `bad-state`: before `start()` ("step() was called before start()."), and after it for every
 * challenge, empty or not ("the server sent a challenge after the only message."), so a server
 * that answers the message with `334 ` never gets the password again. When the initial response
 * does not fit the command (no SASL-IR, a line too long), the session driver withholds it and
 * answers the server's empty challenge with it itself (core's session.ts), without a `step()`.
 * A second `start()`, also while the first is still reading a password function, is
 * `bad-state`. `complete` is true as soon as the message exists; `finish()` before it is
 * `bad-state`.
 */
export class PlainClient implements SaslMechanism {
  readonly name = NAME;
  #state: PlainClientState = PlainClientState.initial;
  /** A password function is being read: a second `start()` meanwhile is refused. */
  #starting = false;
  readonly #credentials: Credentials;
  readonly #prepare: CredentialPreparation | undefined;

  constructor(context: Pick<ClientContext, "credentials"> & Partial<Pick<ClientContext, "prepare">>) {
    this.#credentials = context.credentials;
    this.#prepare = context.prepare;
  }

  /** Where the exchange stands. */
  get state(): PlainClientState {
    return this.#state;
  }

  get complete(): boolean {
    return this.#state !== PlainClientState.initial;
  }

  start(): Promise<Uint8Array> {
    try {
      if (this.#state !== PlainClientState.initial || this.#starting) throw new SaslError(NAME, "bad-state", "start() was called twice.");
      const message = plainMessage(this.#credentials, this.#prepare);
      // A password given as a value needs no await: one promise instead of a chain of them.
      if (message instanceof Uint8Array) return Promise.resolve(this.#started(message));
      this.#starting = true;
      return message.then(
        (bytes) => this.#started(bytes),
        (error: unknown) => {
          this.#starting = false;
          throw error;
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #started(message: Uint8Array): Uint8Array {
    this.#starting = false;
    this.#state = PlainClientState.sent;
    return message;
  }

  step(_challenge: Uint8Array): Promise<Uint8Array> {
    // The one message went out with start() (or the driver sent it for the deferred opening):
    // answering any challenge would send the password again.
    const why = this.#state === PlainClientState.initial ? "step() was called before start()." : "the server sent a challenge after the only message.";
    return Promise.reject(new SaslError(NAME, "bad-state", why));
  }

  finish(_data: Uint8Array | null = null): void {
    if (this.#state === PlainClientState.initial) throw new SaslError(NAME, "bad-state", "the server reported success before PLAIN sent its message.");
    this.#state = PlainClientState.done;
  }
}

/** The server half's states. */
export const PlainServerState = {
  /** `start` not called yet. */
  initial: "initial",
  /** Sent the empty challenge; waiting for the message. */
  awaitingMessage: "awaitingMessage",
  /** Outcome given. */
  done: "done",
} as const;
export type PlainServerState = (typeof PlainServerState)[keyof typeof PlainServerState];

/** A parsed PLAIN message (server side). */
export interface PlainMessage {
  /** Empty when the client asked for no separate authorization identity. */
  readonly authzid: string;
  readonly authcid: string;
  readonly password: string;
}

/**
 * Parses a client's PLAIN message strictly (RFC 4616 §2): exactly three NUL-separated fields,
 * each valid UTF-8 and at most `PLAIN_MAX_FIELD_OCTETS` octets, with non-empty authcid and passwd.
 * Returns the message, or a sentence saying what is wrong (never quoting the password).
 */
export function parsePlainMessage(bytes: Uint8Array): PlainMessage | string {
  const parts = splitBytes(bytes, NUL);
  if (parts.length !== 3) return `PLAIN message must have exactly 3 NUL-separated fields, got ${parts.length}.`;
  const labels = ["authorization identity", "authentication identity", "password"] as const;
  const fields: string[] = [];
  for (let i = 0; i < 3; i++) {
    const part = parts[i] as Uint8Array;
    if (part.length > PLAIN_MAX_FIELD_OCTETS) return `PLAIN ${labels[i]} is longer than ${PLAIN_MAX_FIELD_OCTETS} octets.`;
    try {
      fields.push(decodeUtf8(part, NAME, labels[i], "invalid-response"));
    } catch {
      return `PLAIN ${labels[i]} is not valid UTF-8.`;
    }
  }
  const [authzid, authcid, password] = fields as [string, string, string];
  if (authcid === "") return "PLAIN authentication identity is empty.";
  if (password === "") return "PLAIN password is empty.";
  return { authzid, authcid, password };
}

/**
 * PLAIN server half. Accepts the message as the initial response, or asks for it with an empty
 * challenge when none came. Checks the password with `callbacks.verifyPassword`, then the
 * authorization identity with `callbacks.authorize` (default: allowed only when empty or equal to
 * the authcid). Failures: `invalid-response` for a malformed message, `authentication-failed`
 * for a wrong password (or no `verifyPassword` callback), `authorization-failed` when the
 * authcid may not act as the authzid (RFC 4616 §4 example 2). Errors thrown by callbacks
 * propagate to the caller unchanged.
 */
export class PlainServer implements SaslServerMechanism {
  readonly name = NAME;
  #state: PlainServerState = PlainServerState.initial;
  readonly #callbacks: ServerCallbacks;

  constructor(context: Pick<ServerContext, "callbacks">) {
    this.#callbacks = context.callbacks;
  }

  get state(): PlainServerState {
    return this.#state;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== PlainServerState.initial) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: ask for the message with an empty challenge (RFC 4422 §5).
      this.#state = PlainServerState.awaitingMessage;
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#verify(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    if (this.#state !== PlainServerState.awaitingMessage) {
      throw new SaslError(NAME, "bad-state", this.#state === PlainServerState.done ? "the exchange is already over." : "step() was called before start().");
    }
    return this.#verify(response);
  }

  async #verify(bytes: Uint8Array): Promise<ServerStep> {
    this.#state = PlainServerState.done;
    const message = parsePlainMessage(bytes);
    if (typeof message === "string") return { type: "failure", code: "invalid-response", message };
    const verify = this.#callbacks.verifyPassword;
    if (!verify || !(await verify.call(this.#callbacks, message.authcid, message.password))) {
      return { type: "failure", code: "authentication-failed", message: "Authentication failed." };
    }
    const identity: AuthIdentity = { authcid: message.authcid, authzid: message.authzid === "" ? message.authcid : message.authzid };
    if (!(await mayActAs(this.#callbacks, identity.authcid, identity.authzid))) return { type: "failure", code: "authorization-failed", message: "Not authorized to requested authorization identity." };
    return { type: "success", identity };
  }
}

/** The PLAIN provider: what the registry holds. Priority 300, client-first, password in clear. */
export const plain: MechanismProvider = {
  name: NAME,
  priority: 300,
  clientFirst: true,
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
  needs: [USERNAME, PASSWORD],
  serverCallbacks: ["verifyPassword", "authorize"],
  createClient: (context) => new PlainClient(context),
  createServer: (context) => new PlainServer(context),
};

/** Registers `plain` into `container` (default: tsyringe's root container). */
export function registerPlain(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(plain, container);
}
