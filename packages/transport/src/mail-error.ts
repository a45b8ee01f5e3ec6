/**
 * `MailProtocolError`: the one error shape of saslkit's mail clients (MailKit's `MailService`
 * gives SMTP, IMAP and POP3 one exception shape too). `SmtpError`, `ImapError` and `Pop3Error`
 * extend it with the same constructor order, `(phase, code, message, options)`, so a user who
 * learnt one client can catch the other two.
 *
 * Fields:
 * - `phase`: where in the connection's life it failed (`greeting`, `starttls`, `authenticate`, ...);
 * - `code`: a stable string to switch on (transport codes, core's SASL codes, protocol codes,
 *   `invalid-option` for configuration);
 * - `command`: the last command sent, every credential masked (`A2 AUTHENTICATE PLAIN ****`);
 * - `reply`: the server's answer, verbatim except for redaction;
 * - `mechanism`: the SASL mechanism involved, SASL names only (never `LOGIN-COMMAND`, `USER`, ...);
 * - `login`: the protocol login command (`LOGIN`, `USER`, `APOP`) when that is what failed;
 * - `negotiation`: the negotiation record (what was offered, the plan, every attempt);
 * - `option`: for `invalid-option`, the option path that was refused (`tls`, `auth.user`).
 *
 * The `redact` option is the connection's redactor (`socket.redact`): the message, the command
 * and every string inside the reply pass through it before they are stored, so a server that
 * echoes a credential cannot put it into an error, its `stack` included.
 */

/**
 * A server reply as the IMAP and POP3 clients report it: the status (`OK`/`NO`/`BAD`/`BYE`,
 * `+OK`/`-ERR`), the response code when there was one (`AUTHENTICATIONFAILED`, `SYS/TEMP`), the
 * text after it, and the whole line as received. Secrets the connection sent are masked.
 */
export interface MailReply<Status extends string = string> {
  readonly status: Status;
  readonly code?: string;
  readonly text: string;
  readonly raw: string;
}

/** The protocol login commands, reported apart from SASL mechanisms. */
export type LoginCommand = "LOGIN" | "USER" | "APOP";

export interface MailProtocolErrorOptions<Reply = unknown, Negotiation = unknown> {
  /** The last command sent, credentials already masked. */
  readonly command?: string | undefined;
  /** The server's reply that ended the operation. */
  readonly reply?: Reply | undefined;
  /** The SASL mechanism involved (SASL names only). */
  readonly mechanism?: string | undefined;
  /** The protocol login command, when a LOGIN/USER/APOP failed. */
  readonly login?: LoginCommand | undefined;
  readonly negotiation?: Negotiation | undefined;
  /** For `invalid-option`: the option path. */
  readonly option?: string | undefined;
  readonly cause?: unknown;
  /** Applied to message, command and reply before they are stored (the connection's redactor). */
  readonly redact?: ((text: string) => string) | undefined;
}

/** Applies `redact` to every string of a plain value (strings, arrays, plain objects). */
export function redactDeep<T>(value: T, redact: (text: string) => string): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
  if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, redact);
    return out as T;
  }
  return value;
}

/** Base class of `SmtpError`, `ImapError` and `Pop3Error`; see the module comment. */
export class MailProtocolError<Phase extends string = string, Code extends string = string, Reply = unknown, Negotiation = unknown> extends Error {
  override readonly name: string = "MailProtocolError";
  readonly phase: Phase;
  readonly code: Code;
  readonly command: string | undefined;
  readonly reply: Reply | undefined;
  readonly mechanism: string | undefined;
  readonly login: LoginCommand | undefined;
  readonly negotiation: Negotiation | undefined;
  readonly option: string | undefined;

  /** The message prefix of a subclass (`"IMAP"` gives `IMAP authenticate: ...`); none by default. */
  static readonly protocol: string = "";

  constructor(phase: Phase, code: Code, message: string, options: MailProtocolErrorOptions<Reply, Negotiation> = {}) {
    const redact = options.redact;
    const prefix = (new.target as typeof MailProtocolError).protocol;
    const text = prefix ? `${prefix} ${phase}: ${message}` : message;
    super(redact ? redact(text) : text, options.cause === undefined ? undefined : { cause: options.cause });
    this.phase = phase;
    this.code = code;
    this.command = options.command === undefined || !redact ? options.command : redact(options.command);
    this.reply = options.reply === undefined || !redact ? options.reply : redactDeep(options.reply, redact);
    this.mechanism = options.mechanism;
    this.login = options.login;
    this.negotiation = options.negotiation;
    this.option = options.option;
  }
}
