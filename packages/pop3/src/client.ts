/**
 * The POP3 client: POP3's grammar on the shared mail-session skeleton (connect, TLS default,
 * deadlines, serialized commands, authentication loop, negotiation record).
 */
import { createHash } from "node:crypto";
import { PASSWORD, SaslError, prepareCredential, type Credentials, type CredentialsInput } from "@saslkit/core";
import { MailSession, rules, type LineSocket, type LoginOutcome, type MailClientOptions, type MailProtocol, type ProtocolLogin } from "@saslkit/transport";
import { Pop3SaslExchange, failureCodeOf, initialResponseFits } from "./auth.js";
import { Pop3Capabilities } from "./capabilities.js";
import { Pop3Error, type Pop3ErrorCode, type Pop3ErrorOptions, type Pop3Phase, type Pop3Reply } from "./errors.js";
import { apopTimestamp, unstuff } from "./reply.js";
import { Pop3Wire } from "./wire.js";

/** Memory limits, counted in bytes as they arrive. */
export interface Pop3Limits {
  /** One multi-line answer of the command API. Default 64 MiB. */
  readonly responseBytes?: number;
  /** The CAPA answer (read before TLS and authentication). Default 1 MiB. */
  readonly capabilityBytes?: number;
}

/**
 * How to connect and authenticate: the options every saslkit mail client shares
 * (`MailClientOptions`) plus POP3's own.
 *
 * TLS default (absent `tls`): STLS whenever offered; without it, cleartext only when no
 * credentials will be sent or core's cleartext rule allows it (`policy.cleartext`, loopback by
 * default), else `tls-required` before any mechanism runs. Capabilities read before TLS are discarded. Mechanisms revealing a secret,
 * USER/PASS and APOP obey core's cleartext rule (`policy.cleartext`, default loopback only).
 */
export interface Pop3ConnectOptions extends MailClientOptions {
  /**
   * `fallback` (default): SASL AUTH, then USER/PASS (RFC 1939) when no SASL mechanism fits or the
   * chosen one failed at the mechanism level, and the server advertises `USER` (or answers no
   * CAPA); never after a message carried the password, never with `policy.force`/`policy.order`,
   * counted against `maxAttempts`. `never`: SASL only. `user`: USER/PASS instead of SASL (CAPA is
   * still checked: a server whose CAPA lacks USER is not sent it). `apop`: APOP (RFC 1939 §7; MD5
   * of the greeting timestamp and the password; weak, same cleartext rule).
   */
  readonly login?: "never" | "fallback" | "user" | "apop";
  readonly limits?: Pop3Limits;
}

/** The outcome of one command: `+OK` or `-ERR`, its text, and the unstuffed body of a multi-line answer. */
export interface Pop3CommandResult {
  readonly ok: boolean;
  readonly text: string;
  /** Extended response code (`IN-USE`), when the server gave one. */
  readonly code?: string;
  readonly raw: string;
  /** Body of a multi-line `+OK` answer: dot-unstuffed, terminator removed, lines ending in CRLF. */
  readonly body?: Buffer;
  /** The body's lines (decoded as UTF-8), made from `body` on first use. */
  readonly lines?: readonly string[];
}

const DEFAULT_LIMITS: Required<Pop3Limits> = { responseBytes: 64 * 1024 * 1024, capabilityBytes: 1024 * 1024 };
const CRLF = Buffer.from("\r\n");

/** A multi-line answer: one growing buffer, never an object per line (memory tracks the bytes). */
class Body {
  #buffer = Buffer.allocUnsafe(4096);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  append(line: Buffer): void {
    const need = this.#length + line.length + 2;
    if (need > this.#buffer.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.#buffer.length * 2));
      this.#buffer.copy(next, 0, 0, this.#length);
      this.#buffer = next;
    }
    this.#length += line.copy(this.#buffer, this.#length);
    this.#length += CRLF.copy(this.#buffer, this.#length);
  }

  take(): Buffer {
    return Buffer.from(this.#buffer.subarray(0, this.#length));
  }
}

function multiline(base: Omit<Pop3CommandResult, "body" | "lines">, body: Buffer): Pop3CommandResult {
  let lines: string[] | undefined;
  return Object.defineProperties(
    { ...base, body },
    {
      lines: {
        enumerable: true,
        get: () => {
          if (!lines) {
            const text = body.toString("utf8");
            lines = text === "" ? [] : text.slice(0, -2).split("\r\n");
          }
          return lines;
        },
      },
    },
  ) as Pop3CommandResult;
}

const count = rules.number({ min: 1, integer: true });
const COMMAND_OPTIONS = { multiline: rules.boolean, timeoutMs: rules.number({ min: 0 }) };

const POP3: MailProtocol<Pop3Phase, Pop3Error> = {
  service: "pop",
  ports: { plain: 110, implicit: 995 },
  options: {
    login: rules.oneOf("never", "fallback", "user", "apop"),
    limits: rules.object({ responseBytes: count, capabilityBytes: count }),
  },
  error: (phase, code, message, options) => new Pop3Error(phase, code as Pop3ErrorCode, message, options as Pop3ErrorOptions),
  isError: (value): value is Pop3Error => value instanceof Pop3Error,
};

/** Entry point: `Pop3Client.connect(options)` connects, secures, authenticates (when `auth` is given); rejects with `Pop3Error`. */
export const Pop3Client = { connect: (options: Pop3ConnectOptions): Promise<Pop3Connection> => Pop3Connection.connect(options) };

/** An open POP3 connection. Commands run one at a time, in call order. */
export class Pop3Connection extends MailSession<Pop3Phase, Pop3Error> {
  readonly #wire: Pop3Wire;
  readonly #popOptions: Pop3ConnectOptions;
  readonly #limits: Required<Pop3Limits>;
  #capabilities = new Pop3Capabilities([]);
  /** False when the server answered CAPA with -ERR (a plain RFC 1939 server). */
  #capaWorked = false;
  #greeting: Pop3Reply | undefined;
  #authenticated = false;
  #mechanism: string | undefined;
  #login: "USER" | "APOP" | undefined;

  private constructor(socket: LineSocket, options: Pop3ConnectOptions, port: number) {
    super(socket, options, POP3, port);
    this.#popOptions = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#wire = new Pop3Wire(socket, () => this.replyDeadline());
  }

  /** See `Pop3Client.connect`. */
  static connect(options: Pop3ConnectOptions): Promise<Pop3Connection> {
    return MailSession.establish(options, POP3, (socket, port) => new Pop3Connection(socket, options, port));
  }

  get capabilities(): Pop3Capabilities {
    return this.#capabilities;
  }
  /** The server's greeting (secrets this connection sent are masked). */
  get greeting(): Pop3Reply | undefined {
    return this.#greeting;
  }
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** The SASL mechanism that authenticated (SASL names only; undefined after USER/PASS or APOP). */
  get mechanism(): string | undefined {
    return this.#mechanism;
  }
  /** `"USER"` or `"APOP"` when that login authenticated. */
  get login(): "USER" | "APOP" | undefined {
    return this.#login;
  }

  async #status(phase: Pop3Phase, deadlineMs?: number): Promise<Pop3Reply> {
    try {
      return await this.#wire.status(this.replyDeadline(deadlineMs), phase);
    } catch (error) {
      throw this.wrap(error, phase, this.#wire.lastCommand);
    }
  }

  async #send(line: string, phase: Pop3Phase, mask?: string): Promise<void> {
    try {
      await this.#wire.send(line, mask);
    } catch (error) {
      throw this.wrap(error, phase, this.#wire.lastCommand);
    }
  }

  /** Greeting, CAPA, STLS per the TLS default. */
  protected async open(): Promise<void> {
    const greeting = await this.#status("greeting");
    this.#greeting = greeting;
    if (greeting.status !== "+OK") throw this.fail("greeting", "server-rejected", `the server refused the connection: ${greeting.text}`.trimEnd(), { reply: greeting });
    await this.#refresh("capability");
    if (this.tlsDecision("starttls", this.#capabilities.stls, "STLS") === "continue") return;
    await this.#send("STLS", "starttls");
    const reply = await this.#status("starttls");
    if (reply.status !== "+OK") {
      this.tlsDecision("starttls", true, "STLS", { command: "STLS", reply, text: `${reply.status} ${reply.text}`.trimEnd() });
      return;
    }
    await this.upgradeTls("starttls", "STLS");
    // What the server said before TLS may have been forged: forget it and ask again.
    this.#capabilities = new Pop3Capabilities([]);
    await this.#refresh("starttls");
  }

  /** Sends CAPA and stores the answer; a server without CAPA (plain RFC 1939) leaves the set empty. */
  refreshCapabilities(): Promise<Pop3Capabilities> {
    return this.serialize(() => this.#refresh("capability"));
  }

  async #refresh(phase: Pop3Phase): Promise<Pop3Capabilities> {
    const result = await this.#run("CAPA", true, phase, this.#limits.capabilityBytes);
    this.#capaWorked = result.ok;
    this.#capabilities = new Pop3Capabilities(result.ok ? (result.lines ?? []) : []);
    return this.#capabilities;
  }

  /**
   * Authenticates per `options.login`: SASL (core's negotiation and session driver over AUTH),
   * with USER/PASS as the fallback, or USER/PASS or APOP alone. Rejects with `Pop3Error` whose
   * `code` is core's SASL code, `cause` the `SaslError`, `negotiation` the record.
   */
  authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    return this.serialize(() => this.#authenticate(auth));
  }

  async #authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    if (this.#authenticated) throw this.fail("authenticate", "bad-state", "the connection is already authenticated.");
    const mode = this.#popOptions.login ?? "fallback";
    const outcome = await this.authenticateWith(auth, {
      phase: "authenticate",
      offered: this.#capabilities.mechanisms,
      exchange: (context) => new Pop3SaslExchange(this.#wire, context),
      initialResponseFits,
      loginMode: mode === "user" || mode === "apop" ? "only" : mode,
      login: mode === "apop" ? this.#apopLogin() : this.#userLogin(),
    });
    this.#authenticated = true;
    this.#mechanism = outcome.mechanism;
    this.#login = outcome.login === "USER" || outcome.login === "APOP" ? outcome.login : undefined;
  }

  #userLogin(): ProtocolLogin<Pop3Phase> {
    return {
      command: "USER",
      phase: "user",
      sendsSecret: true,
      // RFC 2449 §6.4: a server with CAPA lists USER when it accepts it; without CAPA, USER is RFC 1939's baseline.
      unavailable: () => (this.#capaWorked && !this.#capabilities.user ? { code: "login-disabled", reason: "the server's CAPA does not advertise USER" } : undefined),
      run: (credentials) => this.#userPass(credentials),
    };
  }

  #apopLogin(): ProtocolLogin<Pop3Phase> {
    return {
      command: "APOP",
      phase: "apop",
      sendsSecret: true,
      unavailable: () => (apopTimestamp(this.#greeting?.text ?? "") ? undefined : { code: "apop-unavailable", reason: "the server's greeting carries no APOP timestamp" }),
      run: (credentials) => this.#apop(credentials),
    };
  }

  async #userPass(credentials: Credentials): Promise<LoginOutcome> {
    const prepare = this.#popOptions.prepare;
    const username = prepareCredential(credentials.username ?? "", prepare, "the user name");
    const given = (await credentials.get(PASSWORD)) ?? "";
    this.#wire.socket.redactor.addSecret(given);
    const password = prepareCredential(given, prepare, "the password");
    this.#wire.socket.redactor.addSecret(password);
    if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(password)) {
      return { ok: false, code: "invalid-credentials-input", message: "the username or password contains CR, LF or NUL, which POP3 cannot carry." };
    }
    await this.#send(`USER ${username}`, "user");
    const user = await this.#status("user");
    if (user.status !== "+OK") return this.#refused(user, "USER");
    await this.#send(`PASS ${password}`, "user", "PASS ****");
    const pass = await this.#status("user");
    if (pass.status !== "+OK") return this.#refused(pass, "PASS");
    return { ok: true };
  }

  async #apop(credentials: Credentials): Promise<LoginOutcome> {
    const timestamp = apopTimestamp(this.#greeting?.text ?? "") ?? "";
    const prepare = this.#popOptions.prepare;
    const username = prepareCredential(credentials.username ?? "", prepare, "the user name");
    if (/[\s\0]/.test(username)) return { ok: false, code: "invalid-credentials-input", message: "the username contains white space or NUL, which APOP cannot carry." };
    const given = (await credentials.get(PASSWORD)) ?? "";
    this.#wire.socket.redactor.addSecret(given);
    const password = prepareCredential(given, prepare, "the password");
    this.#wire.socket.redactor.addSecret(password);
    const digest = createHash("md5")
      .update(timestamp + password, "utf8")
      .digest("hex");
    // A digest of the password (crackable offline): masked in either hex case, as secrets' hex is.
    this.#wire.socket.redactor.add(digest);
    this.#wire.socket.redactor.add(digest.toUpperCase());
    await this.#send(`APOP ${username} ${digest}`, "apop", `APOP ${username} ****`);
    const reply = await this.#status("apop");
    if (reply.status !== "+OK") return this.#refused(reply, "APOP");
    return { ok: true };
  }

  #refused(reply: Pop3Reply, command: string): LoginOutcome {
    const code = failureCodeOf(reply.code, true, false);
    const message = `The server refused ${command}: -ERR${reply.code ? ` [${reply.code}]` : ""} ${reply.text}`.trimEnd() + ".";
    const cause = new SaslError(undefined, code, message, { reply: { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text } });
    return { ok: false, code, message, ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}), reply, cause };
  }

  /**
   * Runs one command (`"STAT"`, `"LIST"`; no CR/LF). With `multiline: true` a `+OK` answer's body
   * is read up to the terminating CRLF `.` CRLF and unstuffed. `-ERR` is returned, not thrown. A
   * read that fails (deadline, a line that is no reply) closes the connection (see the README).
   */
  command(command: string, options: { readonly multiline?: boolean; readonly timeoutMs?: number } = {}): Promise<Pop3CommandResult> {
    // A string only: anything else was sent as its String() (a toString may change between reads).
    if (typeof command !== "string" || /[\r\n]/.test(command)) return Promise.reject(new TypeError("A POP3 command must be a string, a single line without CR or LF."));
    const invalid = this.invalidOptions(options, COMMAND_OPTIONS, "command");
    if (invalid) return Promise.reject(invalid);
    return this.serialize(() => this.#run(command, options.multiline ?? false, "command", this.#limits.responseBytes, options.timeoutMs));
  }

  async #run(command: string, isMultiline: boolean, phase: Pop3Phase, limit: number, timeoutMs?: number): Promise<Pop3CommandResult> {
    await this.#send(command, phase);
    const deadline = this.replyDeadline(timeoutMs);
    let reply: Pop3Reply;
    try {
      reply = await this.#wire.status(deadline, phase);
    } catch (error) {
      throw this.wrap(error, phase, command);
    }
    const base = { ok: reply.status === "+OK", text: reply.text, ...(reply.code ? { code: reply.code } : {}), raw: reply.raw };
    if (!isMultiline || !base.ok) return base;
    const body = new Body();
    // Only CRLF "." CRLF ends the answer and only a line after a CRLF is dot-stuffed (RFC 1939
    // §3): a "." between bare LFs is message text a server passed through, and ending there would
    // hand the rest of the message to the next command as its reply.
    let lineStart = true;
    for (;;) {
      let raw: Buffer;
      try {
        raw = await this.#wire.socket.readLineBytes(deadline);
      } catch (error) {
        // The rest of the body would be read as the next command's reply: the connection closes.
        this.#wire.socket.destroy();
        throw this.wrap(error, phase, command);
      }
      const crlf = this.#wire.socket.lastLineCrlf;
      const unstuffed = lineStart ? unstuff(raw) : raw;
      if (unstuffed === undefined && crlf) return multiline(base, body.take());
      lineStart = crlf;
      const line = unstuffed ?? raw; // a "." ended by a bare LF: text
      if (body.length + line.length + 2 > limit) {
        this.#wire.socket.destroy();
        throw this.fail(phase, "response-too-large", `the multi-line answer exceeds the limit of ${limit} bytes.`, { command });
      }
      body.append(line);
    }
  }

  /** Sends QUIT (committing deletions, RFC 1939 §6), waits for its answer, closes. */
  quit(): Promise<Pop3CommandResult | undefined> {
    return this.serialize(async () => {
      try {
        return await this.#run("QUIT", false, "quit", 0);
      } catch (error) {
        if (error instanceof Pop3Error && error.code === "closed") return undefined;
        throw error;
      } finally {
        await this.#wire.socket.close();
      }
    });
  }
}
