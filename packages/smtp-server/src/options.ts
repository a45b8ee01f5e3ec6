/**
 * Options, envelopes and the public server handle of @saslkit/smtp-server.
 */
import type { AuthIdentity, MechanismSource, ServerCallbacks } from "@saslkit/core";
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
}

/** A message as the server received it: the envelope and the dot-unstuffed bytes (CRLF line ends). */
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
  /** Address to listen on. Only loopback addresses make sense for an embedded server; default "127.0.0.1". */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one, read it back from `server.port`. */
  readonly port?: number;
  /** Name used in the greeting and the EHLO reply, and handed to server mechanisms. Default "localhost". Never resolved. */
  readonly hostname?: string;
  /** Where the server halves come from (registry, container or provider list). Default: tsyringe's root container. */
  readonly mechanisms?: MechanismSource;
  /** The user database the server halves consult. */
  readonly callbacks: ServerCallbacks;
  /** Options handed to every server half in `ServerContext.options` (keyed by mechanism package). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /** Certificate and key. When given, STARTTLS is offered (or, with `implicitTls`, TLS starts at connect). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer; readonly ca?: string | Buffer | Array<string | Buffer>; readonly requestCert?: boolean };
  /** Start TLS on connect (SMTPS, RFC 8314) instead of offering STARTTLS. Needs `tls`. */
  readonly implicitTls?: boolean;
  /** Refuse MAIL FROM until the client authenticated (530 5.7.0). Default false. */
  readonly requireAuth?: boolean;
  /** Refuse AUTH and MAIL until the session is under TLS (530 5.7.0 Must issue a STARTTLS command first). Default false. */
  readonly requireTls?: boolean;
  /**
   * Whether mechanisms that send the secret in clear (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) may run
   * on a session without TLS. Default: only when the client is on a loopback address. Refused
   * mechanisms are not advertised and get `538 5.7.11`.
   */
  readonly allowCleartextAuth?: boolean;
  /** Largest message accepted (advertised as SIZE). Default 10 MiB. */
  readonly maxMessageBytes?: number;
  /** Longest command or data line accepted, in bytes. Default 65536 (AUTH responses must fit 12288, RFC 4954). */
  readonly maxLineBytes?: number;
  /** Most recipients per message. Default 100. */
  readonly maxRecipients?: number;
  /** Failed AUTH attempts before the server says 421 and hangs up. Default 3. */
  readonly maxAuthFailures?: number;
  /** Unknown or out-of-sequence commands before the server hangs up. Default 10. */
  readonly maxErrors?: number;
  /** Simultaneous connections; more get `421` and are closed. Default 64. */
  readonly maxConnections?: number;
  /** Idle time allowed for each command line (an absolute deadline per line). Default 300 s (RFC 5321 §4.5.3.2.7). */
  readonly commandTimeoutMs?: number;
  /** Time allowed for the whole DATA phase of one message (an absolute deadline). Default 600 s. */
  readonly dataTimeoutMs?: number;
  /** Accepted messages kept in `server.messages` (oldest dropped first). Default 100; 0 keeps none. */
  readonly keepMessages?: number;
  /**
   * Called for each accepted message before the `250` reply. Throwing (or rejecting) makes the
   * server answer `451 4.3.0` and drop the message.
   */
  readonly onMessage?: (envelope: Envelope, data: Buffer) => void | Promise<void>;
  /** Receives every command and reply, AUTH payloads masked. */
  readonly transcript?: (entry: ServerTranscriptEntry) => void;
}

/** The running server. */
export interface SmtpServerHandle {
  readonly host: string;
  readonly port: number;
  /** Accepted messages, oldest first (bounded by `keepMessages`). */
  readonly messages: readonly ReceivedMessage[];
  /** Resolves with the next accepted message (or rejects after `timeoutMs`, default 10 s). */
  nextMessage(timeoutMs?: number): Promise<ReceivedMessage>;
  /** Stops listening, ends every open session, resolves when all sockets are closed. */
  close(): Promise<void>;
}
