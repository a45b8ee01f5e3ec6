/**
 * The options of `SmtpClient.connect` and `sendMail`: the names and meanings the IMAP and POP3
 * clients share (`host`, `port`, `tls`, `tlsOptions`, `auth`, `mechanisms`, `policy`,
 * `mechanismOptions`, `fallback`, `maxAttempts`, `maxRounds`, `timeouts`, `maxLineBytes`,
 * `transcript`, `signal`) plus SMTP's own (`ehloName`, `pipelining`, `timeouts.data`), their
 * defaults, and their run-time check.
 */
import type { CredentialPreparation, CredentialsInput, MechanismSource, NegotiationPolicy } from "@saslkit/core";
import { checkOptions, rules, sharedClientOptions, type OptionSpec, type Rule, type TlsSettings, type TranscriptSink } from "@saslkit/transport";
import { SmtpError } from "./errors.js";

/** Time limits in milliseconds; each is an absolute deadline, not an idle timer. `Infinity` means none. */
export interface SmtpTimeouts {
  /** One deadline for the whole `connect()`: TCP, TLS, greeting, EHLO, STARTTLS, AUTH. Default 60000. */
  readonly connect?: number;
  /** Each reply (EHLO, STARTTLS and its handshake, AUTH rounds, MAIL, RCPT, DATA, QUIT). Default 30000. */
  readonly reply?: number;
  /** Sending one message body and receiving its final reply. Default 600000 (RFC 5321 §4.5.3.2). */
  readonly data?: number;
}

/** How PIPELINING is used; see `SmtpClientOptions.pipelining`. */
export type PipeliningMode = "full" | "transaction" | "off";

export interface SmtpClientOptions {
  readonly host: string;
  /** Default 465 with `tls: "implicit"`, else 587. */
  readonly port?: number;
  /**
   * - `"implicit"`: TLS from the first byte (port 465);
   * - `"starttls"`: STARTTLS, required (fails closed with `tls-required` when missing or refused);
   * - `"none"`: never TLS (challenge-response mechanisms are fine; a mechanism that sends the
   *   secret in clear needs `policy.cleartext: "allow"` or a loopback peer);
   * - absent (the default, the same in every saslkit client): STARTTLS whenever offered. Without
   *   it the connection goes on in clear only when no credentials will be sent, the peer is on
   *   loopback, or `policy.cleartext` is `"allow"`; otherwise it ends with `tls-required` before
   *   any mechanism runs (SCRAM and CRAM-MD5 included: a stripped STARTTLS must not give an
   *   on-path attacker an exchange to relay or to attack offline).
   */
  readonly tls?: "implicit" | "starttls" | "none";
  /** Certificate checks: CA, client certificate, servername (the name verified; `host` decides where to connect). Verification is on unless `rejectUnauthorized: false`. */
  readonly tlsOptions?: TlsSettings;
  /** The name sent with EHLO/HELO. Default: this host's name if it is fully qualified, else an address literal. */
  readonly ehloName?: string;
  /** Credentials: authenticate during connect when given. */
  readonly auth?: CredentialsInput;
  /** Where mechanisms come from: providers, a tsyringe container or a registry. Default: tsyringe's root container. */
  readonly mechanisms?: MechanismSource;
  /** Negotiation policy (force, order, exclude, cleartext), handed to core's negotiator. */
  readonly policy?: NegotiationPolicy;
  /** Per-mechanism options handed to mechanism factories (`{ scram: {...} }`). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /**
   * SASLprep (RFC 4013) for the user name and password of PLAIN, LOGIN and CRAM-MD5 (SCRAM always
   * prepares): `"saslprep"` for servers that store prepared credentials; default `"none"`, the
   * bytes as given (docs/decisions/0009).
   */
  readonly prepare?: CredentialPreparation;
  /** Fallback to the next mechanism after a mechanism-level failure (core's policy). Default true. */
  readonly fallback?: boolean;
  /** Most mechanisms tried. Default 3. */
  readonly maxAttempts?: number;
  /** Most 334 challenges in one exchange. Default 10. */
  readonly maxRounds?: number;
  /**
   * How PIPELINING (RFC 2920) is used when the server offers it (without it, always "off"):
   * - `"full"`: MAIL, RCPT and DATA go out as one group, and the next message's group follows the
   *   previous message's final dot without waiting for its reply: one round trip per message;
   * - `"transaction"`: MAIL, RCPT and DATA as one group, but the next message waits for the
   *   previous message's final reply: two round trips per message;
   * - `"off"`: lock-step, every command waits for its reply.
   *
   * Default `"full"`, except `"transaction"` for servers with a known quirk: Dovecot submission
   * (identified by its greeting or EHLO reply) crashes on cross-message pipelining (see README).
   * An explicit value always wins. `true` means the default and `false` means `"off"`.
   */
  readonly pipelining?: PipeliningMode | boolean;
  /**
   * CHUNKING (RFC 3030): when the server offers it, messages go out with BDAT (the exact octet
   * count, no dot-stuffing pass, no 354 step; a small in-memory message leaves with its MAIL and
   * RCPT in one write), and a message holding NUL octets goes as BODY=BINARYMIME when that is
   * offered too. Default true; `false` always uses DATA.
   */
  readonly chunking?: boolean;
  readonly timeouts?: SmtpTimeouts;
  /** Longest reply line accepted. Default 65536 bytes. */
  readonly maxLineBytes?: number;
  /** Receives every line, after the connection's redactor masked every secret. See `printTranscript`. */
  readonly transcript?: TranscriptSink;
  /** Aborts the connection and everything pending. */
  readonly signal?: AbortSignal;
}

/** Every timeout, defaults filled in. */
export type ResolvedTimeouts = Required<SmtpTimeouts>;

/** The same connect and reply defaults as the IMAP and POP3 clients, plus DATA's. */
const DEFAULT_TIMEOUTS: ResolvedTimeouts = Object.freeze({ connect: 60_000, reply: 30_000, data: 600_000 });

export function resolveTimeouts(timeouts: SmtpTimeouts | undefined): ResolvedTimeouts {
  // Without timeouts (the usual case) the defaults themselves, frozen: no copy per connection.
  return timeouts === undefined ? DEFAULT_TIMEOUTS : { ...DEFAULT_TIMEOUTS, ...timeouts };
}

/** The port when none is given: 465 for implicit TLS, else 587 (submission, RFC 6409). */
export function defaultPort(options: SmtpClientOptions): number {
  return options.port ?? (options.tls === "implicit" ? 465 : 587);
}

/** An option this client once had under another name: refused with the new name. */
function renamed(to: string): Rule {
  return { accepted: `absent; it is now "${to}"`, check: () => false, keys: undefined, open: false, quote: false, hint: undefined };
}

const { boolean, either, number, object, oneOf, string } = rules;
const timeout = number({ min: 0 });

/** The accepted options: the shared ones (transport), SMTP's own, and SMTP's former names. */
const SPEC: OptionSpec = {
  ...sharedClientOptions(),
  ehloName: string,
  prepare: oneOf("none", "saslprep"),
  pipelining: either(oneOf("full", "transaction", "off"), boolean),
  chunking: boolean,
  timeouts: object({ connect: timeout, reply: timeout, data: timeout, greeting: renamed("timeouts.connect"), command: renamed("timeouts.reply") }),
  authFallback: renamed("fallback"),
  maxAuthAttempts: renamed("maxAttempts"),
};

/**
 * Checks `options` at run time (JavaScript callers pass configuration from environment variables
 * and JSON): an unknown or misspelt key, a key from another mail library (`secure`,
 * `requireTLS`, `auth.user`, `auth.pass`, `tls: {...}`) or a value outside what is accepted
 * (`tls: "STARTTLS"`, `tls: "implict"`) throws `SmtpError` `invalid-option` naming the option and
 * the accepted values, before any connection is made.
 */
export function checkSmtpOptions(options: SmtpClientOptions): void {
  checkOptions(options, SPEC, (problem) => new SmtpError("connect", "invalid-option", problem.message, { option: problem.option }));
  if (typeof options.host !== "string" || options.host === "") {
    throw new SmtpError("connect", "invalid-option", 'The option "host" is required: a host name or address.', { option: "host" });
  }
}

const count = number({ min: 1, integer: true });

/** The pool's own options (`createPool`); nodemailer's pool names point at ours. */
const POOL_SPEC: OptionSpec = {
  connection: object({}, { open: true }),
  maxConnections: count,
  maxMessagesPerConnection: count,
  rateLimit: object({ messages: count, perMs: count }),
  maxAttempts: count,
  maxConnectFailures: count,
  maxQueuedBytes: count,
  pool: renamed("createPool (a pool is its own object here)"),
  maxMessages: renamed("maxMessagesPerConnection"),
  rateDelta: renamed("rateLimit.perMs"),
};

/**
 * Checks `createPool` options at run time, the connection options included (so a wrong option
 * fails at once, not on the first send): `invalid-option` naming the option.
 */
export function checkPoolOptions(options: { readonly connection: SmtpClientOptions }): void {
  checkOptions(options, POOL_SPEC, (problem) => new SmtpError("connect", "invalid-option", problem.message, { option: problem.option }));
  if (options.connection === undefined) throw new SmtpError("connect", "invalid-option", 'The pool option "connection" is required: the options of each connection.', { option: "connection" });
  try {
    checkSmtpOptions(options.connection);
  } catch (error) {
    const e = error as SmtpError;
    const option = `connection.${e.option ?? ""}`;
    throw new SmtpError("connect", "invalid-option", e.message.replace(/^SMTP connect: /, "").replace(`"${e.option}"`, `"${option}"`), { option });
  }
}
