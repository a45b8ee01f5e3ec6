/**
 * `MailSession`: the connection skeleton the IMAP and POP3 clients share (MailKit's
 * `MailService`): options checked at run time, connect with one absolute deadline for the whole
 * `connect()`, an absolute deadline per reply, the TLS default, the STARTTLS upgrade, serialized
 * commands, the connection's redactor wired to the credentials, and the authentication loop
 * (negotiation, core's session driver, the protocol-login fallback, the negotiation record).
 * Each protocol keeps only its grammar: greeting, capabilities, command framing, reply codes.
 *
 * The TLS default (absent `tls`), the same for every client: STARTTLS whenever offered; without
 * it the connection continues in cleartext only when no credentials will be sent or core's
 * `cleartextRefusal(policy.cleartext, channel)` allows it (default "loopback": the peer is on
 * loopback; "allow": any host; "never": not even loopback), otherwise a `tls-required` error
 * before any mechanism runs (a stripped STARTTLS would otherwise let an on-path attacker relay or
 * dictionary-attack the exchange).
 * `"starttls"` requires TLS always; `"none"` never upgrades (secret-in-clear mechanisms then
 * need `policy.cleartext: "allow"` or a loopback peer); `"implicit"` is TLS from the first byte.
 */
import { openClientSocket } from "./client-socket.js";
import {
  Credentials,
  NoMechanismError,
  PASSWORD,
  SaslError,
  USERNAME,
  allowsFallback,
  authenticate,
  cleartextRefusal,
  negotiationRecord,
  planNegotiation,
  type ChannelInfo,
  type CredentialPreparation,
  type CredentialsInput,
  type MechanismSource,
  type Negotiation,
  type NegotiationPolicy,
  type NegotiationRecord,
  type SaslExchange,
} from "@saslkit/core";
import { Deadline } from "./deadline.js";
import { TransportError } from "./errors.js";
import { LineSocket, type TlsSettings, type TranscriptSink } from "./line-socket.js";
import { MailProtocolError, type LoginCommand, type MailProtocolErrorOptions } from "./mail-error.js";
import { checkOptions, sharedClientOptions, type OptionSpec } from "./options.js";

export type { NegotiationRecord } from "@saslkit/core";

export type TlsMode = "implicit" | "starttls" | "none";

/** Absolute deadlines in milliseconds (`Infinity` allowed). */
export interface MailTimeouts {
  /** One deadline for the whole `connect()`: TCP, TLS, greeting, capabilities, STARTTLS, authentication. Default 60000. */
  readonly connect?: number;
  /** Each reply the client waits for. Default 30000. */
  readonly reply?: number;
}

export const DEFAULT_TIMEOUTS = { connect: 60_000, reply: 30_000 } as const;

/** The options every mail client takes, with the same names and meanings. */
export interface MailClientOptions {
  readonly host: string;
  /** Default: the protocol's implicit-TLS port for `tls: "implicit"`, else its plain port. */
  readonly port?: number;
  /** See the module comment. Absent: STARTTLS whenever offered, never credentials in clear to a remote host. */
  readonly tls?: TlsMode;
  /** CA, client certificate (EXTERNAL), servername (the name verified; `host` decides where to connect), verification. */
  readonly tlsOptions?: TlsSettings;
  /** Credentials; without them `connect` stops before authentication. */
  readonly auth?: CredentialsInput;
  /** Installed mechanisms: a registry, a tsyringe container or a list of providers. */
  readonly mechanisms?: MechanismSource;
  /** force / order / exclude / cleartext. */
  readonly policy?: NegotiationPolicy;
  /** Per-mechanism options handed to factories. */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /** Try the next candidate (or the protocol login) after a mechanism-level failure. Default true. */
  readonly fallback?: boolean;
  /** Most mechanisms tried, a protocol-login fallback included. Default 3. */
  readonly maxAttempts?: number;
  /** Most challenges in one exchange. Default 10. */
  readonly maxRounds?: number;
  readonly timeouts?: MailTimeouts;
  /** Longest line accepted, in bytes. Default 65536. */
  readonly maxLineBytes?: number;
  /** Receives every line, after the connection's redactor masked every secret. */
  readonly transcript?: TranscriptSink;
  readonly signal?: AbortSignal;
  /**
   * SASLprep (RFC 4013) for the password mechanisms that leave it open and for the protocol
   * logins (IMAP LOGIN, POP3 USER/PASS, APOP): `"saslprep"` for servers that store prepared
   * credentials. Default `"none"` (docs/decisions/0009-saslprep-opt-in.md).
   */
  readonly prepare?: CredentialPreparation;
}

/** What a protocol tells the skeleton about itself. */
export interface MailProtocol<Phase extends string, E extends MailProtocolError> {
  /** RFC 4422 service name: `imap`, `pop`. */
  readonly service: string;
  readonly ports: { readonly plain: number; readonly implicit: number };
  /** The protocol's own option keys, on top of the shared ones. */
  readonly options: OptionSpec;
  /** Builds the protocol's error (same constructor order everywhere). */
  readonly error: (phase: Phase, code: string, message: string, options?: MailProtocolErrorOptions) => E;
  readonly isError: (value: unknown) => value is E;
}

/** A protocol's SASL framing, as the skeleton drives it. */
export interface MailExchange extends SaslExchange {
  /** The last command sent, credentials masked. */
  readonly lastCommand: string | undefined;
  /** The reply that ended the last exchange, redacted. */
  readonly lastReply: unknown;
  /** True once a message of a mechanism that sends its secret in clear went out (no fallback after it). */
  readonly secretSent: boolean;
}

/** What the exchange factory learns from the plan. */
export interface ExchangeContext {
  /** The deadline for the next reply. */
  readonly deadline: () => Deadline;
  /** Whether `mechanism` sends the secret (or a replayable equivalent) in its messages. */
  readonly sendsSecret: (mechanism: string) => boolean;
  /** Whether `mechanism` proves the server (only then may success data ride on a final OK). */
  readonly mutualAuth: (mechanism: string) => boolean;
}

/** The outcome of a protocol login (IMAP LOGIN, POP3 USER/PASS or APOP). */
export type LoginOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly command?: string; readonly reply?: unknown; readonly cause?: unknown };

/** A protocol login the skeleton may run instead of SASL or as the fallback after it. */
export interface ProtocolLogin<Phase extends string> {
  readonly command: LoginCommand;
  readonly phase: Phase;
  /** Why the server will not take it now (`LOGINDISABLED`, `USER` not advertised), with its code. */
  unavailable(): { readonly code: string; readonly reason: string } | undefined;
  /** Whether it sends the password itself (LOGIN, USER/PASS) or a digest of it (APOP). */
  readonly sendsSecret: boolean;
  run(credentials: Credentials): Promise<LoginOutcome>;
}

/** How an `authenticate` runs: the offered mechanisms, the framing, the login and its mode. */
export interface AuthenticationPlan<Phase extends string> {
  readonly phase: Phase;
  readonly offered: readonly string[];
  readonly exchange: (context: ExchangeContext) => MailExchange;
  /** Whether an initial response fits the command that starts the mechanism (IMAP: SASL-IR; POP3: 255 octets). */
  readonly initialResponseFits?: (mechanism: string, response: Uint8Array) => boolean;
  readonly login?: ProtocolLogin<Phase>;
  /** `fallback`: the login after SASL found nothing or failed at the mechanism level; `only`: the login alone; `never`. */
  readonly loginMode: "never" | "fallback" | "only";
}

/** The result of `authenticate`. */
export interface AuthenticationOutcome {
  /** The SASL mechanism that succeeded (SASL names only). */
  readonly mechanism?: string;
  /** The protocol login that succeeded. */
  readonly login?: LoginCommand;
}

/** connect()'s rule for `auth`, for the credentials given to authenticate() (built on first use). */
let AUTH_OPTION: OptionSpec | undefined;

/** The skeleton; see the module comment. */
export abstract class MailSession<Phase extends string, E extends MailProtocolError> {
  readonly #socket: LineSocket;
  readonly #options: MailClientOptions;
  readonly #protocol: MailProtocol<Phase, E>;
  readonly #port: number;
  #queue: Promise<unknown> = Promise.resolve();
  #connectDeadline: Deadline | undefined;
  #negotiation: NegotiationRecord | undefined;

  protected constructor(socket: LineSocket, options: MailClientOptions, protocol: MailProtocol<Phase, E>, port: number) {
    this.#socket = socket;
    this.#options = options;
    this.#protocol = protocol;
    this.#port = port;
  }

  /**
   * Checks the options, connects within one absolute deadline, runs `open` (greeting,
   * capabilities, TLS) and, with credentials and unless already authenticated (IMAP PREAUTH),
   * `authenticate`. The socket is destroyed on failure. Errors are in the `connect` phase until
   * the protocol's own phases take over.
   */
  protected static async establish<P extends string, X extends MailProtocolError, S extends MailSession<P, X>>(
    options: MailClientOptions,
    protocol: MailProtocol<P, X>,
    make: (socket: LineSocket, port: number) => S,
  ): Promise<S> {
    const connectPhase = "connect" as P;
    checkOptions(options, { ...sharedClientOptions(), ...protocol.options }, (problem) =>
      protocol.error(connectPhase, "invalid-option", problem.message, { option: problem.option }),
    );
    if (typeof options.host !== "string" || options.host === "") throw protocol.error(connectPhase, "invalid-option", 'The option "host" is required: a host name or address.', { option: "host" });
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const deadline = Deadline.in(timeouts.connect);
    const port = options.port ?? (options.tls === "implicit" ? protocol.ports.implicit : protocol.ports.plain);
    let socket: LineSocket;
    try {
      socket = await openClientSocket(options, port, timeouts.connect, deadline);
    } catch (error) {
      throw MailSession.#wrapWith(protocol, error, connectPhase, undefined);
    }
    const session = make(socket, port);
    session.#connectDeadline = deadline;
    try {
      await session.open();
      if (options.auth !== undefined && !session.authenticated) await session.authenticate(options.auth);
      return session;
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      session.#connectDeadline = undefined;
    }
  }

  /** Greeting, capabilities and the TLS upgrade: the protocol's grammar. */
  protected abstract open(): Promise<void>;

  abstract get authenticated(): boolean;

  /** Authenticates (see `authenticateWith`). */
  abstract authenticate(auth: CredentialsInput | Credentials): Promise<void>;

  static #wrapWith<P extends string, X extends MailProtocolError>(protocol: MailProtocol<P, X>, error: unknown, phase: P, socket: LineSocket | undefined, command?: string): X {
    if (protocol.isError(error)) return error;
    const context = { ...(command !== undefined ? { command } : {}), ...(socket ? { redact: (t: string) => socket.redact(t) } : {}), cause: error };
    if (error instanceof TransportError) return protocol.error(phase, error.code, error.message, context);
    if (error instanceof SaslError) return protocol.error(phase, error.code, error.message, { ...context, ...(error.mechanism ? { mechanism: error.mechanism } : {}) });
    return protocol.error(phase, "protocol-error", "an unexpected error occurred.", context);
  }

  // -------------------------------------------------------------------------------------------
  // What every client exposes.
  // -------------------------------------------------------------------------------------------

  get host(): string {
    return this.#options.host;
  }

  get port(): number {
    return this.#port;
  }

  /** What the last authentication did: offered, plan, refusals, attempts, the SASL mechanism or protocol login. */
  get negotiation(): NegotiationRecord | undefined {
    return this.#negotiation;
  }

  protected set negotiation(record: NegotiationRecord | undefined) {
    this.#negotiation = record;
  }

  /**
   * The channel now: TLS or not, loopback, host, port, service, and the channel-binding types this
   * connection can supply (read once per TLS session). Which of them a -PLUS mechanism uses is
   * that mechanism's option (`mechanismOptions.scram.channelBinding`), never a client option.
   */
  get channel(): ChannelInfo {
    const info = this.#socket.channelInfo(this.#options.host, this.#port);
    return {
      ...info,
      service: this.#protocol.service,
      ...(info.secure && this.#options.tlsOptions?.cert !== undefined ? { clientCertificate: true } : {}),
    };
  }

  get secure(): boolean {
    return this.#socket.secure;
  }

  get closed(): boolean {
    return this.#socket.closed;
  }

  /** Closes without the protocol's goodbye. */
  close(): Promise<void> {
    return this.#socket.close();
  }

  // -------------------------------------------------------------------------------------------
  // For the protocol's grammar.
  // -------------------------------------------------------------------------------------------

  /** The deadline for the next reply: `timeouts.reply` from now, never past the connect deadline while connecting. */
  protected replyDeadline(ms?: number): Deadline {
    return Deadline.in(ms ?? this.#options.timeouts?.reply ?? DEFAULT_TIMEOUTS.reply).min(this.#connectDeadline);
  }

  /** The protocol's error, with the connection's redactor applied and the negotiation record attached. */
  protected fail(phase: Phase, code: string, message: string, options: MailProtocolErrorOptions = {}): E {
    return this.#protocol.error(phase, code, message, { ...(this.#negotiation ? { negotiation: this.#negotiation } : {}), ...options, redact: (t) => this.#socket.redact(t) });
  }

  /**
   * Checks a method's options (`command(..., { timeoutMs })`) as `connect` checks its own: the
   * protocol's `invalid-option` error for an unknown key or a value of the wrong type (a string
   * `timeoutMs` gave a deadline that never came), else undefined.
   */
  protected invalidOptions(options: unknown, spec: OptionSpec, phase: Phase): E | undefined {
    let problem: E | undefined;
    try {
      checkOptions(options, spec, (p) => (problem = this.fail(phase, "invalid-option", p.message, { option: p.option })));
    } catch (error) {
      if (error !== problem) throw error;
    }
    return problem;
  }

  /** Turns a transport, SASL or unexpected failure into the protocol's error (its own errors pass through). */
  protected wrap(error: unknown, phase: Phase, command?: string): E {
    return MailSession.#wrapWith(this.#protocol, error, phase, this.#socket, command);
  }

  /** Runs `task` after every earlier task: one command at a time, in call order. */
  protected serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The TLS default (module comment): whether to upgrade now that the server did (or did not)
   * offer STARTTLS, or to continue in clear. Throws `tls-required` when neither is allowed.
   * `refused`: the server answered the STARTTLS command with a failure.
   */
  protected tlsDecision(
    phase: Phase,
    offered: boolean,
    what: string,
    refused?: { readonly command: string; readonly reply: unknown; readonly text: string },
    reply?: unknown,
  ): "upgrade" | "continue" {
    const mode = this.#options.tls;
    if (this.#socket.secure || mode === "none" || mode === "implicit") return "continue";
    if (offered && !refused) return "upgrade";
    const why = refused ? `the server refused ${what}: ${refused.text}` : `the server does not offer ${what}`;
    const context = refused ? { command: refused.command, reply: refused.reply } : reply !== undefined ? { reply } : {};
    if (mode === "starttls") throw this.fail(phase, "tls-required", `${why}, and tls: "starttls" requires TLS.`, context);
    if (this.#options.auth === undefined) return "continue";
    this.#refuseCredentialsInClear(phase, why, context);
    return "continue";
  }

  /**
   * The TLS default's rule for credentials on a connection that stayed in clear: core's cleartext
   * rule decides, as for SMTP ("loopback" by default); throws `tls-required` when it refuses.
   */
  #refuseCredentialsInClear(phase: Phase, why: string, context: MailProtocolErrorOptions = {}): void {
    const refusal = cleartextRefusal(this.#options.policy?.cleartext, { secure: false, loopback: this.#socket.loopback });
    if (refusal === undefined) return;
    throw this.fail(
      phase,
      "tls-required",
      `${why}, and the credentials may not cross in clear: ${refusal}; refusing before any mechanism runs (tls: "none" allows challenge-response mechanisms without TLS, policy.cleartext: "allow" every mechanism).`,
      context,
    );
  }

  /** Upgrades the connection once the server said go ahead. */
  protected async upgradeTls(phase: Phase, command: string): Promise<void> {
    try {
      await this.#socket.startTls({ ...(this.#options.tlsOptions ?? {}) }, this.replyDeadline());
    } catch (error) {
      throw this.wrap(error, phase, command);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Authentication.
  // -------------------------------------------------------------------------------------------

  /**
   * Authenticates: core's negotiation and session driver over the protocol's framing, then, when
   * allowed, the protocol login. Records the negotiation (on the session and on every error).
   * The protocol login is a fallback only when: `fallback` is on, no `force`/`order` policy, SASL
   * found no candidate or failed at the mechanism level, no attempt already sent the secret (a
   * mechanism whose message carried the password ends the attempt: it would go out again),
   * `maxAttempts` is not used up (the login counts as an attempt), the server takes it, and the
   * cleartext rule allows it.
   */
  protected async authenticateWith(auth: CredentialsInput | Credentials, plan: AuthenticationPlan<Phase>): Promise<AuthenticationOutcome> {
    // The TLS default holds for an authenticate() after a connect() without credentials too: that
    // connect continued in clear when STARTTLS was missing (no secret to protect then).
    if (this.#options.tls === undefined && !this.#socket.secure) this.#refuseCredentialsInClear(plan.phase, "the connection is not TLS (the server did not offer STARTTLS or refused it)");
    // Credentials given to authenticate() obey connect()'s rule for `auth` (connect's own were
    // checked with the other options): a number password went out, and its echo was never masked.
    if (auth !== this.#options.auth && !(auth instanceof Credentials)) {
      const invalid = this.invalidOptions({ auth }, (AUTH_OPTION ??= { auth: sharedClientOptions().auth! }), plan.phase);
      if (invalid) throw invalid;
    }
    const credentials = Credentials.from(auth);
    // Every secret, as soon as it is known (given, prompted, refreshed), masks this connection's output.
    const unsubscribe = credentials.onSecret((secret) => this.#socket.redactor.addSecret(secret));
    try {
      return await this.#authenticateWith(credentials, plan);
    } finally {
      unsubscribe();
    }
  }

  async #authenticateWith(credentials: Credentials, plan: AuthenticationPlan<Phase>): Promise<AuthenticationOutcome> {
    const options = this.#options;
    const phase = plan.phase;
    const login = plan.login;
    if (plan.loginMode === "only") {
      if (!login) throw this.fail(phase, "no-mechanism", "no protocol login exists for this protocol.");
      const refusal = this.#loginRefusal(login, credentials);
      if (refusal) throw this.fail(login.phase, refusal.code, `the ${login.command} command cannot be used: ${refusal.reason}.`, { login: login.command });
      return this.#runLogin(login, credentials, undefined);
    }

    const negotiation = planNegotiation(options.mechanisms, {
      offered: plan.offered,
      credentials,
      channel: this.channel,
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.mechanismOptions ? { options: options.mechanismOptions } : {}),
      ...(options.prepare ? { prepare: options.prepare } : {}),
    });
    const security = (name: string) => negotiation.candidates.find((p) => p.name === name)?.security;
    const exchange = plan.exchange({
      deadline: () => this.replyDeadline(),
      sendsSecret: (name) => security(name)?.sendsSecretInClear === true,
      mutualAuth: (name) => security(name)?.mutualAuth === true,
    });
    let error: SaslError | undefined;
    if (negotiation.candidates.length > 0) {
      try {
        const result = await authenticate(negotiation, exchange, {
          ...(options.maxRounds !== undefined ? { maxRounds: options.maxRounds } : {}),
          ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
          ...(options.fallback !== undefined ? { fallback: options.fallback } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(plan.initialResponseFits ? { initialResponseFits: plan.initialResponseFits } : {}),
        });
        this.#negotiation = negotiationRecord(negotiation, result.attempts, result.mechanism);
        return { mechanism: result.mechanism };
      } catch (e) {
        if (!(e instanceof SaslError)) {
          this.#negotiation = negotiationRecord(negotiation, []);
          throw this.wrap(e, phase, exchange.lastCommand);
        }
        error = e;
      }
    }
    const attempts = error?.attempts ?? [];
    const record = negotiationRecord(negotiation, attempts);
    this.#negotiation = record;

    let loginNote = "";
    if (login && plan.loginMode === "fallback") {
      const refusal = this.#fallbackRefusal(login, credentials, negotiation, error, exchange, attempts.length);
      if (refusal === undefined) return this.#runLogin(login, credentials, record);
      if (error === undefined) loginNote = ` The ${login.command} command was not used: ${refusal}.`;
    }
    if (error === undefined) {
      const sasl = new NoMechanismError(negotiation.offered, negotiation.installed, negotiation.refused);
      throw this.fail(phase, sasl.code, `${sasl.message}${loginNote}`, { cause: sasl });
    }
    throw this.fail(phase, error.code, error.message, {
      cause: error,
      ...(error.mechanism ? { mechanism: error.mechanism } : {}),
      ...(exchange.lastCommand ? { command: exchange.lastCommand } : {}),
      ...(exchange.lastReply !== undefined ? { reply: exchange.lastReply } : {}),
    });
  }

  /** Why `login` may not run at all now (server, credentials, policy), or undefined. */
  #loginRefusal(login: ProtocolLogin<Phase>, credentials: Credentials): { code: string; reason: string } | undefined {
    const unavailable = login.unavailable();
    if (unavailable) return unavailable;
    if (!credentials.has(USERNAME) || !credentials.has(PASSWORD)) return { code: "missing-credentials", reason: `${login.command} needs a username and a password` };
    if ((this.#options.policy?.exclude ?? []).some((n) => n.toUpperCase() === login.command)) return { code: "policy-refused", reason: `${login.command} is excluded by the caller` };
    const clear = login.sendsSecret ? cleartextRefusal(this.#options.policy?.cleartext, this.channel) : undefined;
    if (clear) return { code: "policy-refused", reason: `${login.command} sends the password in clear and ${clear}` };
    return undefined;
  }

  /** Why the login may not follow this SASL outcome, or undefined. */
  #fallbackRefusal(login: ProtocolLogin<Phase>, credentials: Credentials, negotiation: Negotiation, error: SaslError | undefined, exchange: MailExchange, attempts: number): string | undefined {
    const options = this.#options;
    if (options.fallback === false) return "fallback is off";
    // Given at all, even empty or mistyped: the caller chose, and the login is no mechanism it chose.
    if (options.policy?.force !== undefined || options.policy?.order !== undefined) return "the caller chose the mechanisms (policy.force / policy.order)";
    if (error !== undefined && !allowsFallback(error)) return "the SASL failure was not at the mechanism level";
    if (exchange.secretSent) return "a mechanism already sent the password; it is not sent again";
    if (attempts >= (options.maxAttempts ?? 3)) return `${attempts} attempts were made, the limit`;
    if (this.closed) return "the connection is closed";
    void negotiation;
    return this.#loginRefusal(login, credentials)?.reason;
  }

  async #runLogin(login: ProtocolLogin<Phase>, credentials: Credentials, record: NegotiationRecord | undefined): Promise<AuthenticationOutcome> {
    const base = record ?? { offered: [], installed: [], candidates: [], refused: [], attempts: [], chosen: undefined };
    let outcome: LoginOutcome;
    try {
      outcome = await login.run(credentials);
    } catch (error) {
      this.#negotiation = { ...base, login: { command: login.command, ok: false } };
      if (this.#protocol.isError(error)) throw error;
      throw this.wrap(error, login.phase);
    }
    this.#negotiation = { ...base, login: { command: login.command, ok: outcome.ok } };
    if (outcome.ok) return { login: login.command };
    throw this.fail(login.phase, outcome.code, outcome.message, {
      login: login.command,
      ...(outcome.command !== undefined ? { command: outcome.command } : {}),
      ...(outcome.reply !== undefined ? { reply: outcome.reply } : {}),
      ...(outcome.cause !== undefined ? { cause: outcome.cause } : {}),
    });
  }
}
