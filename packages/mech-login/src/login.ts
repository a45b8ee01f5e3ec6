/**
 * LOGIN (draft-murchison-sasl-login-00): the obsolete two-prompt mechanism. The server asks twice
 * and the client answers with the username, then the password, in UTF-8.
 *
 * The client goes by order, not by prompt text. Servers send `Username:`, the draft's
 * `User Name\0`, an empty prompt or other wording, and the draft itself (§2.1) says the
 * challenges SHOULD be ignored.
 */
import {
  CallGuard,
  SaslError,
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

const NAME = "LOGIN";

/**
 * Largest challenge the client accepts, in bytes. The prompt is ignored, but a prompt of more
 * than 1 KiB means the server is not speaking LOGIN.
 */
export const LOGIN_MAX_CHALLENGE_BYTES = 1024;

/** Largest username or password the server half accepts, in UTF-8 octets. */
export const LOGIN_MAX_FIELD_OCTETS = 1024;

/** Options read from `ClientContext.options.login`. */
export interface LoginOptions {
  /**
   * Send the username as an initial response (`AUTH LOGIN dGlt`). Off by default: some servers
   * still prompt `Username:` after it, and an order-driven client would then send the password
   * in the username slot (MailKit#216, OpenSMTPD#422).
   */
  readonly initialResponse?: boolean;
}

/** The client's visible state machine (rsasl's `LoginState`). */
export const LoginClientState = {
  /** The next challenge is answered with the username. */
  awaitingUsername: "awaitingUsername",
  /** The next challenge is answered with the password. */
  awaitingPassword: "awaitingPassword",
  /** Both were sent. Any further challenge is `bad-state`. */
  done: "done",
} as const;
export type LoginClientState = (typeof LoginClientState)[keyof typeof LoginClientState];

/** Draft §2: passwords exclude NUL, CR and LF; the same holds for the username here. */
const FORBIDDEN = /[\0\r\n]/;

function checkField(value: string, what: string): void {
  if (FORBIDDEN.test(value)) throw new SaslError(NAME, "invalid-credentials-input", `the ${what} contains a NUL, CR or LF character, which LOGIN cannot carry.`);
  requireWellFormed(value, NAME, what);
}

function readOptions(options: Readonly<Record<string, unknown>>): LoginOptions {
  const login = options["login"];
  return typeof login === "object" && login !== null ? (login as LoginOptions) : {};
}

/**
 * LOGIN client. `start()` returns null (no initial response) unless
 * `options.login.initialResponse` is true, in which case it returns the username. Each challenge
 * is answered by position: first the username, then the password. Its content is ignored, so
 * any bytes are fine, including non-UTF-8, up to `LOGIN_MAX_CHALLENGE_BYTES`. A third
 * challenge, or any step after completion, is `bad-state`; so is a step while the previous one
 * is still reading the password (the pending step completes unchanged).
 *
 * Credential errors: `missing-credentials` when the username or password is absent;
 * `invalid-credentials-input` for an empty username, or NUL/CR/LF or a lone surrogate in either.
 * An empty password is sent as given: the draft does not forbid one. With `context.prepare`
 * `"saslprep"` both are SASLprep'd first (opt-in, see core's prepare.ts).
 */
export class LoginClient implements SaslMechanism {
  readonly name = NAME;
  #state: LoginClientState = LoginClientState.awaitingUsername;
  #started = false;
  /** A step reads the password: another call meanwhile is refused. */
  readonly #calls = new CallGuard();
  readonly #credentials: Credentials;
  readonly #initialResponse: boolean;
  readonly #prepare: CredentialPreparation | undefined;

  constructor(context: Pick<ClientContext, "credentials"> & Partial<Pick<ClientContext, "options" | "prepare">>) {
    this.#credentials = context.credentials;
    this.#prepare = context.prepare;
    this.#initialResponse = readOptions(context.options ?? {}).initialResponse === true;
  }

  get state(): LoginClientState {
    return this.#state;
  }

  get complete(): boolean {
    return this.#state === LoginClientState.done;
  }

  /** True once the password was produced: no fallback after it. */
  get secretUsed(): boolean {
    return this.#state === LoginClientState.done;
  }

  async start(): Promise<Uint8Array | null> {
    if (this.#started) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    this.#started = true;
    const username = this.#username(); // validate early, before the server is contacted
    if (!this.#credentials.has(PASSWORD)) throw new SaslError(NAME, "missing-credentials", "a password is required.");
    if (!this.#initialResponse) return null;
    this.#state = LoginClientState.awaitingPassword;
    return username;
  }

  async step(challenge: Uint8Array): Promise<Uint8Array> {
    this.#calls.check(NAME, "step()");
    if (challenge.length > LOGIN_MAX_CHALLENGE_BYTES) {
      throw new SaslError(NAME, "invalid-challenge", `the server's prompt of ${challenge.length} bytes exceeds the ${LOGIN_MAX_CHALLENGE_BYTES}-byte limit.`);
    }
    // The prompt text is deliberately ignored (draft §2.1): only its position matters.
    switch (this.#state) {
      case LoginClientState.awaitingUsername: {
        const username = this.#username();
        this.#state = LoginClientState.awaitingPassword;
        return username;
      }
      case LoginClientState.awaitingPassword: {
        const password = await this.#calls.hold(() => requirePassword(this.#credentials, NAME, this.#prepare));
        checkField(password, "password");
        this.#state = LoginClientState.done;
        return utf8(password);
      }
      case LoginClientState.done:
        throw new SaslError(NAME, "bad-state", "the server sent a third challenge; LOGIN answers only two (username, password).");
    }
  }

  finish(_data: Uint8Array | null = null): void {
    if (this.#state !== LoginClientState.done) throw new SaslError(NAME, "bad-state", "the server reported success before LOGIN sent the password.");
  }

  #username(): Uint8Array {
    const username = requireUsername(this.#credentials, NAME, this.#prepare);
    checkField(username, "username");
    return utf8(username);
  }
}

/** The server half's states. */
export const LoginServerState = {
  /** `start` not called yet. */
  initial: "initial",
  /** `Username:` was sent. */
  awaitingUsername: "awaitingUsername",
  /** `Password:` was sent. */
  awaitingPassword: "awaitingPassword",
  /** Outcome given. */
  done: "done",
} as const;
export type LoginServerState = (typeof LoginServerState)[keyof typeof LoginServerState];

/** The prompts the server half sends: the de-facto `Username:` / `Password:` (draft §2.2 note). */
export const LOGIN_PROMPTS = { username: "Username:", password: "Password:" } as const;

/**
 * LOGIN server half. It prompts `Username:` and then `Password:`. A username sent as the
 * initial response is accepted, and then only `Password:` is asked. The password is checked
 * with `callbacks.verifyPassword`; the identity is the username, acting as itself. Failures:
 * `invalid-response` for an empty username, a field that is not UTF-8, contains NUL/CR/LF or is
 * longer than `LOGIN_MAX_FIELD_OCTETS`; `authentication-failed` for a wrong password or a missing
 * callback. Errors thrown by callbacks propagate.
 */
export class LoginServer implements SaslServerMechanism {
  readonly name = NAME;
  #state: LoginServerState = LoginServerState.initial;
  #username = "";
  readonly #callbacks: ServerCallbacks;

  constructor(context: Pick<ServerContext, "callbacks">) {
    this.#callbacks = context.callbacks;
  }

  get state(): LoginServerState {
    return this.#state;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== LoginServerState.initial) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial === null) {
      this.#state = LoginServerState.awaitingUsername;
      return { type: "challenge", data: utf8(LOGIN_PROMPTS.username) };
    }
    return this.#takeUsername(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    switch (this.#state) {
      case LoginServerState.awaitingUsername:
        return this.#takeUsername(response);
      case LoginServerState.awaitingPassword: {
        this.#state = LoginServerState.done;
        const password = this.#field(response, "password");
        if (typeof password !== "string") return password;
        const verify = this.#callbacks.verifyPassword;
        if (!verify || !(await verify.call(this.#callbacks, this.#username, password))) {
          return { type: "failure", code: "authentication-failed", message: "Authentication failed." };
        }
        return { type: "success", identity: { authcid: this.#username, authzid: this.#username } };
      }
      case LoginServerState.initial:
        throw new SaslError(NAME, "bad-state", "step() was called before start().");
      case LoginServerState.done:
        throw new SaslError(NAME, "bad-state", "the exchange is already over.");
    }
  }

  #takeUsername(bytes: Uint8Array): ServerStep {
    const username = this.#field(bytes, "username");
    if (typeof username !== "string") {
      this.#state = LoginServerState.done;
      return username;
    }
    if (username === "") {
      this.#state = LoginServerState.done;
      return { type: "failure", code: "invalid-response", message: "LOGIN username is empty." };
    }
    this.#username = username;
    this.#state = LoginServerState.awaitingPassword;
    return { type: "challenge", data: utf8(LOGIN_PROMPTS.password) };
  }

  #field(bytes: Uint8Array, what: "username" | "password"): string | ServerStep {
    const fail = (message: string): ServerStep => ({ type: "failure", code: "invalid-response", message });
    if (bytes.length > LOGIN_MAX_FIELD_OCTETS) return fail(`LOGIN ${what} is longer than ${LOGIN_MAX_FIELD_OCTETS} octets.`);
    let text: string;
    try {
      text = decodeUtf8(bytes, NAME, what, "invalid-response");
    } catch {
      return fail(`LOGIN ${what} is not valid UTF-8.`);
    }
    if (FORBIDDEN.test(text)) return fail(`LOGIN ${what} contains a NUL, CR or LF character.`);
    return text;
  }
}

/** The LOGIN provider: priority 200, server-first, password in clear. */
export const login: MechanismProvider = {
  name: NAME,
  priority: 200,
  clientFirst: false,
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false },
  needs: [USERNAME, PASSWORD],
  serverCallbacks: ["verifyPassword"],
  createClient: (context) => new LoginClient(context),
  createServer: (context) => new LoginServer(context),
};

/** Registers `login` into `container` (default: tsyringe's root container). */
export function registerLogin(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(login, container);
}
