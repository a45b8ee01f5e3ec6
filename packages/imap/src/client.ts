/**
 * The IMAP client: IMAP's grammar on the shared mail-session skeleton (connect, TLS default,
 * deadlines, serialized commands, authentication loop, negotiation record).
 */
import { PASSWORD, SaslError, prepareCredential, type Credentials, type CredentialsInput } from "@saslkit/core";
import { MailSession, rules, type LineSocket, type LoginOutcome, type MailClientOptions, type MailProtocol } from "@saslkit/transport";
import { ImapSaslExchange, initialResponseFits } from "./auth.js";
import { ImapCapabilities } from "./capabilities.js";
import { ImapError, type ImapErrorCode, type ImapErrorOptions, type ImapPhase } from "./errors.js";
import { encodeLoginArgument } from "./login.js";
import type { TaggedResponse, UntaggedResponse } from "./parser.js";
import { CommandBudget, ImapWire, replyOf, type ImapLimits } from "./wire.js";

/**
 * How to connect and authenticate: the options every saslkit mail client shares
 * (`MailClientOptions`: host, port, tls, tlsOptions, auth, mechanisms, policy, mechanismOptions,
 * fallback, maxAttempts, maxRounds, timeouts { connect, reply }, maxLineBytes, transcript, signal)
 * plus IMAP's own.
 *
 * TLS default (absent `tls`): STARTTLS whenever offered; without it, cleartext only when no
 * credentials will be sent or core's cleartext rule allows it (`policy.cleartext`, loopback by
 * default), else `tls-required` before any mechanism runs. Capabilities read before TLS are discarded. Mechanisms revealing a secret, and
 * the LOGIN command, obey core's cleartext rule (`policy.cleartext`, default loopback only).
 */
export interface ImapConnectOptions extends MailClientOptions {
  /**
   * The IMAP LOGIN command: `never`; `fallback` (default) when no SASL mechanism fits or the
   * chosen one failed at the mechanism level, never after a message carried the password, never
   * with `policy.force`/`policy.order`, and counted against `maxAttempts`; `only` to use LOGIN
   * instead of AUTHENTICATE. Never sent when the server advertises LOGINDISABLED, nor in
   * cleartext when the policy forbids it.
   */
  readonly login?: "never" | "fallback" | "only";
  /** Memory limits on responses, counted in bytes and items. */
  readonly limits?: ImapLimits;
}

/** The tagged completion and the untagged responses of one command. */
export interface ImapCommandResult {
  readonly tagged: TaggedResponse;
  readonly untagged: readonly UntaggedResponse[];
}

const count = rules.number({ min: 1, integer: true });
const COMMAND_OPTIONS = { timeoutMs: rules.number({ min: 0 }) };

const IMAP: MailProtocol<ImapPhase, ImapError> = {
  service: "imap",
  ports: { plain: 143, implicit: 993 },
  options: {
    login: rules.oneOf("never", "fallback", "only"),
    limits: rules.object({ responseBytes: count, literals: count, commandBytes: count, untagged: count }),
  },
  error: (phase, code, message, options) => new ImapError(phase, code as ImapErrorCode, message, options as ImapErrorOptions),
  isError: (value): value is ImapError => value instanceof ImapError,
};

const isCapability = (u: UntaggedResponse) => u.type === "CAPABILITY" || u.code?.name === "CAPABILITY";

/** Entry point: `ImapClient.connect(options)` connects, secures, authenticates (when `auth` is given); rejects with `ImapError`. */
export const ImapClient = { connect: (options: ImapConnectOptions): Promise<ImapConnection> => ImapConnection.connect(options) };

/** An open IMAP connection. Commands run one at a time, in call order. */
export class ImapConnection extends MailSession<ImapPhase, ImapError> {
  readonly #wire: ImapWire;
  readonly #imapOptions: ImapConnectOptions;
  #capabilities = new ImapCapabilities([]);
  #authenticated = false;
  #preauth = false;
  #mechanism: string | undefined;
  #login: "LOGIN" | undefined;

  private constructor(socket: LineSocket, options: ImapConnectOptions, port: number) {
    super(socket, options, IMAP, port);
    this.#imapOptions = options;
    this.#wire = new ImapWire(socket, options.limits, () => this.replyDeadline());
  }

  /** See `ImapClient.connect`. */
  static connect(options: ImapConnectOptions): Promise<ImapConnection> {
    return MailSession.establish(options, IMAP, (socket, port) => new ImapConnection(socket, options, port));
  }

  /** The server's current capabilities (after TLS and after authentication, re-read). */
  get capabilities(): ImapCapabilities {
    return this.#capabilities;
  }
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** The SASL mechanism that authenticated (SASL names only; undefined after LOGIN or PREAUTH). */
  get mechanism(): string | undefined {
    return this.#mechanism;
  }
  /** `"LOGIN"` when the LOGIN command authenticated. */
  get login(): "LOGIN" | undefined {
    return this.#login;
  }
  /** True when the server greeted with PREAUTH (already authenticated). */
  get preauth(): boolean {
    return this.#preauth;
  }

  async #read(phase: ImapPhase) {
    try {
      return await this.#wire.read(this.replyDeadline(), phase);
    } catch (error) {
      throw this.wrap(error, phase, this.#wire.lastCommand);
    }
  }

  async #send(tag: string, command: string, phase: ImapPhase, mask?: string): Promise<void> {
    try {
      await this.#wire.send(tag, command, mask);
    } catch (error) {
      throw this.wrap(error, phase, this.#wire.lastCommand);
    }
  }

  /** Greeting, capabilities, STARTTLS per the TLS default. */
  protected async open(): Promise<void> {
    const greeting = await this.#read("greeting");
    if (greeting.kind !== "untagged" || !["OK", "PREAUTH", "BYE"].includes(greeting.type)) {
      throw this.fail("greeting", "protocol-error", "the server's greeting is not OK, PREAUTH or BYE.", greeting.kind !== "continuation" ? { reply: replyOf(greeting, this.#wire.redact) } : {});
    }
    const reply = replyOf(greeting, this.#wire.redact);
    if (greeting.type === "BYE") throw this.fail("greeting", "server-bye", `the server refused the connection: ${greeting.text ?? ""}`.trimEnd(), { reply });
    if (greeting.type === "PREAUTH") {
      // PREAUTH leaves no chance for STARTTLS: the TLS default decides as if it were not offered.
      this.tlsDecision("greeting", false, "STARTTLS (it greeted with PREAUTH)", undefined, reply);
      this.#authenticated = true;
      this.#preauth = true;
    }
    if (greeting.code?.name === "CAPABILITY") this.#capabilities = ImapCapabilities.parse(greeting.code.args);
    else await this.#refresh("capability");
    if (this.#authenticated) return;

    if (this.tlsDecision("starttls", this.#capabilities.startTls, "STARTTLS") === "continue") return;
    const tag = this.#wire.nextTag();
    await this.#send(tag, "STARTTLS", "starttls");
    const done = await this.#collect(tag, "starttls", false);
    if (done.tagged.status !== "OK") {
      const refused = replyOf(done.tagged, this.#wire.redact);
      this.tlsDecision("starttls", true, "STARTTLS", { command: `${tag} STARTTLS`, reply: refused, text: `${refused.status} ${refused.text}`.trimEnd() });
      return;
    }
    await this.upgradeTls("starttls", `${tag} STARTTLS`);
    // Everything learnt before TLS may have been forged: forget it and ask again.
    this.#capabilities = new ImapCapabilities([]);
    await this.#refresh("starttls");
  }

  /** Sends CAPABILITY and stores the answer. */
  refreshCapabilities(): Promise<ImapCapabilities> {
    return this.serialize(() => this.#refresh("capability"));
  }

  async #refresh(phase: ImapPhase): Promise<ImapCapabilities> {
    const tag = this.#wire.nextTag();
    await this.#send(tag, "CAPABILITY", phase);
    const done = await this.#collect(tag, phase, false);
    if (done.tagged.status !== "OK") {
      throw this.fail(phase, "command-failed", `the server refused CAPABILITY: ${done.tagged.status} ${done.tagged.text}`.trimEnd() + ".", {
        command: `${tag} CAPABILITY`,
        reply: replyOf(done.tagged, this.#wire.redact),
      });
    }
    this.#takeCapabilities(done.untagged, phase, done.tagged);
    return this.#capabilities;
  }

  #takeCapabilities(untagged: readonly UntaggedResponse[], phase: ImapPhase, tagged?: TaggedResponse): boolean {
    if (tagged?.code?.name === "CAPABILITY") {
      this.#capabilities = ImapCapabilities.parse(tagged.code.args);
      return true;
    }
    for (let i = untagged.length - 1; i >= 0; i--) {
      const u = untagged[i]!;
      if (u.type === "CAPABILITY") {
        this.#capabilities = new ImapCapabilities(this.#wire.values(u, phase).filter((v): v is string => typeof v === "string"));
        return true;
      }
      if (u.code?.name === "CAPABILITY") {
        this.#capabilities = ImapCapabilities.parse(u.code.args);
        return true;
      }
    }
    return false;
  }

  /**
   * Reads until the tagged completion of `tag`, within the command limits. `keepAll`: keep every
   * untagged response (the command API); else only the last one carrying capabilities, so a
   * flood before TLS or authentication costs no memory.
   */
  async #collect(tag: string, phase: ImapPhase, keepAll: boolean, deadlineMs?: number): Promise<ImapCommandResult> {
    const untagged: UntaggedResponse[] = [];
    const budget = new CommandBudget(this.#wire, phase);
    const deadline = this.replyDeadline(deadlineMs);
    for (;;) {
      let r;
      try {
        r = await this.#wire.read(deadline, phase);
      } catch (error) {
        throw this.wrap(error, phase, this.#wire.lastCommand);
      }
      if (r.kind === "untagged") {
        budget.spend(this.#wire.lastSize);
        if (keepAll) {
          // Tokenized now: a malformed response fails the command, not a getter the caller reads later.
          this.#wire.values(r, phase);
          untagged.push(r);
        } else if (isCapability(r)) untagged[0] = r;
        continue;
      }
      if (r.kind === "continuation" || r.tag !== tag) {
        this.#wire.socket.destroy();
        throw this.fail(phase, "protocol-error", r.kind === "continuation" ? "the server asked for a continuation the command did not announce." : `the server completed tag ${r.tag} while ${tag} was pending.`, {
          ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}),
        });
      }
      return { tagged: r, untagged };
    }
  }

  /**
   * Authenticates with the best mechanism the server offers (core's negotiation and session
   * driver over AUTHENTICATE), or with LOGIN per `options.login`. Rejects with `ImapError` whose
   * `code` is core's SASL code, `cause` the `SaslError`, `negotiation` the record.
   */
  authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    return this.serialize(() => this.#authenticate(auth));
  }

  async #authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    if (this.#authenticated) throw this.fail("authenticate", "bad-state", "the connection is already authenticated.");
    const wire = this.#wire;
    let exchange: ImapSaslExchange | undefined;
    let loginUntagged: readonly UntaggedResponse[] = [];
    let loginTagged: TaggedResponse | undefined;
    const outcome = await this.authenticateWith(auth, {
      phase: "authenticate",
      offered: this.#capabilities.mechanisms,
      exchange: (context) => (exchange = new ImapSaslExchange({ wire, capabilities: this.#capabilities, context, budget: () => new CommandBudget(wire, "authenticate") })),
      initialResponseFits: initialResponseFits(this.#capabilities),
      loginMode: this.#imapOptions.login ?? "fallback",
      login: {
        command: "LOGIN",
        phase: "login",
        sendsSecret: true,
        unavailable: () => (this.#capabilities.loginDisabled ? { code: "login-disabled", reason: "the server advertises LOGINDISABLED" } : undefined),
        run: async (credentials) => {
          const result = await this.#loginCommand(credentials);
          if (result.ok) ({ untagged: loginUntagged, tagged: loginTagged } = result);
          return result;
        },
      },
    });
    this.#authenticated = true;
    this.#mechanism = outcome.mechanism;
    this.#login = outcome.login === "LOGIN" ? "LOGIN" : undefined;
    const final = exchange?.final;
    const known = outcome.login
      ? this.#takeCapabilities(loginUntagged, "login", loginTagged)
      : this.#takeCapabilities(exchange?.untagged ?? [], "authenticate", final?.kind === "tagged" ? final : undefined);
    if (!known) await this.#refresh(outcome.login ? "login" : "authenticate");
  }

  /** The LOGIN command (RFC 9051 §6.2.3), literals as the arguments need them. */
  async #loginCommand(credentials: Credentials): Promise<(LoginOutcome & { ok: false }) | { ok: true; untagged: readonly UntaggedResponse[]; tagged: TaggedResponse }> {
    const wire = this.#wire;
    const given = (await credentials.get(PASSWORD)) ?? "";
    wire.socket.redactor.addSecret(given);
    // Opt-in SASLprep (RFC 4013) for servers that store prepared credentials.
    const prepare = this.#imapOptions.prepare;
    const password = prepareCredential(given, prepare, "the password");
    wire.socket.redactor.addSecret(password);
    const user = encodeLoginArgument(prepareCredential(credentials.username ?? "", prepare, "the user name"), this.#capabilities);
    const pass = encodeLoginArgument(password, this.#capabilities);
    if (!user || !pass) return { ok: false, code: "invalid-credentials-input", message: "the username or password contains a NUL character, which IMAP cannot carry." };
    const tag = wire.nextTag();
    const mask = `${tag} LOGIN ****`;
    wire.lastCommand = mask;
    // Send the command in segments: each synchronizing literal waits for the server's "+".
    const chunks: (string | Uint8Array)[] = [];
    let line = `${tag} LOGIN `;
    for (const [i, arg] of [user, pass].entries()) {
      line += arg.text;
      if (arg.literal) {
        chunks.push(`${line}\r\n`, arg.literal);
        line = "";
      }
      if (i === 0) line += " ";
    }
    chunks.push(`${line}\r\n`);
    // While a literal waits for its "+": the last response carrying capabilities, and the command's budget.
    let capability: UntaggedResponse | undefined;
    const budget = new CommandBudget(wire, "login");
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      try {
        await wire.write(chunk, i === 0 ? mask : "****");
      } catch (error) {
        throw this.wrap(error, "login", mask);
      }
      const sync = typeof chunk === "string" && /\{\d+\}\r\n$/.test(chunk);
      if (!sync) continue;
      // One deadline for the "+": untagged responses before it do not extend the wait.
      const deadline = this.replyDeadline();
      for (;;) {
        let r;
        try {
          r = await wire.read(deadline, "login");
        } catch (error) {
          throw this.wrap(error, "login", mask);
        }
        if (r.kind === "continuation") break;
        if (r.kind === "untagged") {
          budget.spend(wire.lastSize);
          if (isCapability(r)) capability = r;
          continue;
        }
        return this.#loginFailed(r, tag);
      }
    }
    const done = await this.#collect(tag, "login", false);
    if (done.tagged.status !== "OK") return this.#loginFailed(done.tagged, tag);
    return { ok: true, untagged: capability ? [capability, ...done.untagged] : done.untagged, tagged: done.tagged };
  }

  #loginFailed(r: TaggedResponse, tag: string): LoginOutcome & { ok: false } {
    if (r.tag !== tag) {
      this.#wire.socket.destroy(); // out of step with the server, as in #collect
      throw this.fail("login", "protocol-error", `the server completed tag ${r.tag} while ${tag} was pending.`, { login: "LOGIN" });
    }
    const code = r.status === "BAD" ? "protocol-error" : codeOfLoginNo(r.code?.name);
    const reply = replyOf(r, this.#wire.redact);
    const message = `The server refused the LOGIN command: ${reply.status}${reply.code ? ` [${reply.code}]` : ""} ${reply.text}`.trimEnd() + ".";
    const cause = new SaslError(undefined, code, message, { reply: { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text } });
    return { ok: false, code, message, command: `${tag} LOGIN ****`, reply, cause };
  }

  /**
   * Runs one command (`"SELECT INBOX"`; no CR/LF, literals not supported) and returns its tagged
   * completion and untagged responses. `NO`/`BAD` are returned, not thrown; transport failures,
   * limits and protocol violations reject with `ImapError`. A read that fails inside a response
   * (a deadline in the middle of a literal) closes the connection: the rest would be read as responses.
   */
  command(command: string, options: { readonly timeoutMs?: number } = {}): Promise<ImapCommandResult> {
    // A string only: anything else was sent as its String() (a toString may change between reads).
    if (typeof command !== "string" || /[\r\n]/.test(command)) return Promise.reject(new TypeError("An IMAP command must be a string, a single line without CR or LF."));
    const invalid = this.invalidOptions(options, COMMAND_OPTIONS, "command");
    if (invalid) return Promise.reject(invalid);
    return this.serialize(async () => {
      const tag = this.#wire.nextTag();
      await this.#send(tag, command, "command");
      const result = await this.#collect(tag, "command", true, options.timeoutMs);
      this.#takeCapabilities(result.untagged, "command", result.tagged);
      return result;
    });
  }

  /** Sends LOGOUT, waits for BYE and the tagged OK (or the server closing), then closes. */
  logout(): Promise<void> {
    return this.serialize(async () => {
      const tag = this.#wire.nextTag();
      try {
        await this.#send(tag, "LOGOUT", "logout");
        await this.#collect(tag, "logout", false);
      } catch (error) {
        if (!(error instanceof ImapError && error.code === "closed")) throw error;
      } finally {
        await this.#wire.socket.close();
      }
    });
  }
}

function codeOfLoginNo(code: string | undefined) {
  switch (code?.toUpperCase()) {
    case "UNAVAILABLE":
    case "LIMIT":
    case "SERVERBUG":
    case "INUSE":
      return "temporary-failure" as const;
    case "AUTHORIZATIONFAILED":
    case "NOPERM":
      return "authorization-failed" as const;
    case "PRIVACYREQUIRED":
      return "encryption-required" as const;
    default:
      return "authentication-failed" as const;
  }
}
