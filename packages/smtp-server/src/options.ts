/**
 * Options, envelopes and the public server handle of @saslkit/smtp-server, and the run-time
 * validation of the options (JavaScript callers pass them from JSON and environment variables).
 */
import type { Readable } from "node:stream";
import type { AuthIdentity, CleartextPolicy, MechanismSource, ServerCallbacks } from "@saslkit/core";
import type { TranscriptEntry } from "@saslkit/transport";

/** The envelope of one accepted message: who sent it, to whom, and over what kind of session. */
export interface Envelope {
  /** The reverse path from `MAIL FROM:<...>`, "" for the null sender `<>`. */
  readonly mailFrom: string;
  /** Forward paths from each accepted `RCPT TO:<...>`, in order. */
  readonly rcptTo: readonly string[];
  /** ESMTP parameters given on `MAIL FROM`, upper-case keys (`SIZE`, `BODY`, `SMTPUTF8`). */
  readonly mailParams: Readonly<Record<string, string | true>>;
  /** The name the client gave in EHLO / HELO. */
  readonly helo: string;
  /** Who authenticated on this session, and with which mechanism (undefined when nobody did). */
  readonly auth: { readonly mechanism: string; readonly identity: AuthIdentity } | undefined;
  /** True when the message arrived over TLS (implicit or after STARTTLS). */
  readonly secure: boolean;
  readonly remoteAddress: string | undefined;
  readonly receivedAt: Date;
  /** How the content came: `DATA` (dot-unstuffed, CRLF line ends) or `BDAT` (RFC 3030 chunks, verbatim). */
  readonly transfer: "DATA" | "BDAT";
}

/** A message as the server received it: the envelope and its bytes (kept in the bounded store). */
export interface ReceivedMessage {
  readonly id: string;
  readonly envelope: Envelope;
  readonly data: Buffer;
}

/**
 * A server-side transcript line. Like the transport's `TranscriptEntry`, plus the connection
 * number. AUTH payloads are masked (`AUTH PLAIN ****`, `****`); message data is summarised.
 */
export interface ServerTranscriptEntry extends TranscriptEntry {
  readonly connection: number;
}

export interface SmtpServerOptions {
  /** Address to listen on. Default "127.0.0.1". */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one, read it back from `server.port`. */
  readonly port?: number;
  /**
   * Name used in the greeting and the EHLO reply, and handed to server mechanisms (DIGEST-MD5
   * accepts it as the host of a client's digest-uri, as it does the address the client connected
   * to; see its `hosts` option). Default "localhost".
   * Never resolved.
   */
  readonly hostname?: string;
  /** Where the server halves come from (registry, container or provider list). Default: tsyringe's root container. */
  readonly mechanisms?: MechanismSource;
  /** The user database the server halves consult. */
  readonly callbacks: ServerCallbacks;
  /** Options handed to every server half in `ServerContext.options` (keyed by mechanism package). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /**
   * Certificate and key. When given, STARTTLS is offered (or, with `implicitTls`, TLS starts at
   * connect). With `requestCert` and `ca`, a client certificate issued under `ca` for client
   * authentication (extendedKeyUsage clientAuth, or none) gives the EXTERNAL identity.
   */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer; readonly ca?: string | Buffer | Array<string | Buffer>; readonly requestCert?: boolean };
  /** Start TLS on connect (SMTPS, RFC 8314) instead of offering STARTTLS. Needs `tls`. */
  readonly implicitTls?: boolean;
  /**
   * Submission semantics (RFC 6409, Postfix's `permit_sasl_authenticated, reject`): MAIL before
   * a successful AUTH is refused with `530 5.7.0`. Default true. `false` makes an open server that
   * takes mail from anyone who connects; say so explicitly.
   */
  readonly requireAuth?: boolean;
  /** Refuse AUTH and MAIL until the session is under TLS (530 5.7.0 Must issue a STARTTLS command first). Default false. */
  readonly requireTls?: boolean;
  /**
   * Whether mechanisms that send the secret in clear (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) run on
   * a session without TLS; the clients' `policy.cleartext` with the same values: `"loopback"`
   * (default: only for a client on a loopback address), `"never"`, `"allow"`. Refused mechanisms
   * are not advertised and get `538 5.7.11`.
   */
  readonly cleartext?: CleartextPolicy;
  /**
   * Bare CR or LF (not part of a CRLF) in commands and DATA, as Postfix 3.9's
   * `smtpd_forbid_bare_newline`: `"normalize"` (default, Postfix 3.9's default) accepts a command
   * ended by a bare LF and delivers message lines ended by a bare CR or LF with CRLF; `"reject"`
   * answers `550 5.5.2` and disconnects. Either way only `<CRLF>.<CRLF>` ends DATA, and a bare CR
   * inside a command is an error.
   */
  readonly bareNewline?: "normalize" | "reject";
  /** Largest message accepted, in bytes after decoding (advertised as SIZE). Default 10 MiB. */
  readonly maxMessageBytes?: number;
  /** Longest command or DATA line accepted, in bytes. Default 65536 (AUTH responses must fit 12288, RFC 4954). */
  readonly maxLineBytes?: number;
  /** Most recipients per message. Default 100. */
  readonly maxRecipients?: number;
  /** Failed AUTH attempts before the server says 421 and hangs up. Default 3. */
  readonly maxAuthFailures?: number;
  /** Unknown or out-of-sequence commands before the server hangs up. Default 10. */
  readonly maxErrors?: number;
  /** Simultaneous connections; more get `421` and are closed. Default 64. */
  readonly maxConnections?: number;
  /**
   * Simultaneous connections from one client (Postfix anvil's
   * `smtpd_client_connection_count_limit`), so one client cannot hold every slot. Default 16. A
   * client is an IPv4 address or an IPv6 /64. Loopback clients count too: raise it for local load tests.
   */
  readonly maxConnectionsPerClient?: number;
  /** Commands a session may send before it authenticates, when `requireAuth` holds. Default 50. */
  readonly maxCommandsBeforeAuth?: number;
  /** Time a session has to authenticate, from connect, when `requireAuth` holds. Default 120 s. */
  readonly authTimeoutMs?: number;
  /** Idle time allowed for each command line (an absolute deadline per line). Default 300 s (RFC 5321 §4.5.3.2.7). */
  readonly commandTimeoutMs?: number;
  /** Time allowed for one DATA transfer or one BDAT chunk, and for `onData` to finish (an absolute deadline). Default 600 s. */
  readonly dataTimeoutMs?: number;
  /** Accepted messages kept in `server.messages` (oldest dropped first). Default 100; 0 keeps none. */
  readonly keepMessages?: number;
  /** Total bytes of the messages kept in `server.messages` (oldest dropped first). Default 32 MiB; 0 keeps none. */
  readonly keepBytes?: number;
  /**
   * Receives each message as it arrives, as a `Readable` of its bytes (nodemailer smtp-server's
   * `onData`). Resolve once you have consumed the stream: what you have not read by then is
   * dropped. Rejecting makes the server answer `451 4.3.0`. When the client exceeds
   * `maxMessageBytes`, or the transfer fails, the stream errors (`code` "size-exceeded" or
   * "aborted") and the message is refused whatever the handler does.
   */
  readonly onData?: (stream: Readable, envelope: Envelope) => void | Promise<void>;
  /** Receives every command and reply, AUTH payloads masked. */
  readonly transcript?: (entry: ServerTranscriptEntry) => void;
}

/** The running server. */
export interface SmtpServerHandle {
  readonly host: string;
  readonly port: number;
  /** Accepted messages, oldest first (bounded by `keepMessages` and `keepBytes`). */
  readonly messages: readonly ReceivedMessage[];
  /** Resolves with the next accepted message (or rejects after `timeoutMs`, default 10 s). Needs the store. */
  nextMessage(timeoutMs?: number): Promise<ReceivedMessage>;
  /** Stops listening, ends every open session, resolves when all sockets are closed. */
  close(): Promise<void>;
}

/** A configuration mistake, named: `code` "invalid-option", `option` the key. */
export class SmtpServerOptionError extends TypeError {
  readonly code = "invalid-option";
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = "SmtpServerOptionError";
  }
}

type Check = (value: unknown) => boolean;
const isInt = (min: number): Check => (v) => typeof v === "number" && Number.isInteger(v) && v >= min;
const isMs: Check = (v) => typeof v === "number" && !Number.isNaN(v) && v > 0;
const isBool: Check = (v) => typeof v === "boolean";
const isString: Check = (v) => typeof v === "string" && v !== "";
const isFunction: Check = (v) => typeof v === "function";
const isObject: Check = (v) => typeof v === "object" && v !== null;
const oneOf =
  (...values: string[]): Check =>
  (v) => typeof v === "string" && values.includes(v);

const CHECKS: Record<keyof SmtpServerOptions, [Check, string]> = {
  host: [isString, "a host address"],
  port: [(v) => isInt(0)(v) && (v as number) <= 65535, "an integer 0-65535"],
  hostname: [isString, "a host name"],
  mechanisms: [(v) => isObject(v), "a registry, a container or a list of providers"],
  callbacks: [isObject, "an object of server callbacks"],
  mechanismOptions: [isObject, "an object keyed by mechanism package"],
  tls: [(v) => isObject(v) && (v as { key?: unknown }).key !== undefined && (v as { cert?: unknown }).cert !== undefined, "{ key, cert, ca?, requestCert? }"],
  implicitTls: [isBool, "true or false"],
  requireAuth: [isBool, "true or false"],
  requireTls: [isBool, "true or false"],
  cleartext: [oneOf("loopback", "never", "allow"), '"loopback", "never" or "allow"'],
  bareNewline: [oneOf("normalize", "reject"), '"normalize" or "reject"'],
  maxMessageBytes: [isInt(1), "a positive integer"],
  maxLineBytes: [isInt(512), "an integer of at least 512"],
  maxRecipients: [isInt(1), "a positive integer"],
  maxAuthFailures: [isInt(1), "a positive integer"],
  maxErrors: [isInt(1), "a positive integer"],
  maxConnections: [isInt(1), "a positive integer"],
  maxConnectionsPerClient: [isInt(1), "a positive integer"],
  maxCommandsBeforeAuth: [isInt(1), "a positive integer"],
  authTimeoutMs: [isMs, "a positive number of milliseconds (Infinity allowed)"],
  commandTimeoutMs: [isMs, "a positive number of milliseconds (Infinity allowed)"],
  dataTimeoutMs: [isMs, "a positive number of milliseconds (Infinity allowed)"],
  keepMessages: [isInt(0), "an integer of at least 0"],
  keepBytes: [isInt(0), "an integer of at least 0"],
  onData: [isFunction, "a function (stream, envelope)"],
  transcript: [isFunction, "a function (entry)"],
};

const RENAMED: Record<string, string> = {
  onMessage: "onData (a stream of the message, see the README)",
  secure: "implicitTls",
  requireTLS: "requireTls",
  size: "maxMessageBytes",
  authOptional: "requireAuth",
  allowCleartextAuth: 'cleartext: "allow" (was true) or "never" (was false); the default "loopback" allows it only for a client on a loopback address',
};

/** Throws `SmtpServerOptionError` for an unknown key, a key from another library, or a wrong value. */
export function validateOptions(options: SmtpServerOptions): void {
  if (!isObject(options)) throw new SmtpServerOptionError("options", "SmtpServer.start needs an options object.");
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    const check = CHECKS[key as keyof SmtpServerOptions];
    if (!check) {
      const hint = RENAMED[key];
      throw new SmtpServerOptionError(key, `Unknown option "${key}"${hint ? `: use ${hint}` : ""}.`);
    }
    if (!check[0](value)) throw new SmtpServerOptionError(key, `Option "${key}" must be ${check[1]}; got ${describe(value)}.`);
  }
  if (options.callbacks === undefined) throw new SmtpServerOptionError("callbacks", 'Option "callbacks" is required (an object of server callbacks, may be empty).');
  if (options.implicitTls && !options.tls) throw new SmtpServerOptionError("implicitTls", "implicitTls needs tls: { key, cert }.");
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  return typeof value === "object" ? "an object" : String(value);
}
