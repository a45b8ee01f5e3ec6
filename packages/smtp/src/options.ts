/**
 * The options of `SmtpClient.connect` and `sendMail`, and their defaults.
 */
import type { CredentialsInput, MechanismSource, NegotiationPolicy } from "@saslkit/core";
import type { TlsSettings, TranscriptSink } from "@saslkit/transport";

/** Time limits in milliseconds; each is an absolute deadline for its phase, not an idle timer. */
export interface SmtpTimeouts {
  /** TCP connect, plus the handshake for implicit TLS. Default 15000. */
  readonly connect?: number;
  /** The server's greeting. Default 30000. */
  readonly greeting?: number;
  /** Each command's reply (EHLO, STARTTLS and its handshake, AUTH rounds, MAIL, RCPT, DATA, QUIT). Default 60000. */
  readonly command?: number;
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
   * - `"starttls"`: STARTTLS, required (fails closed when missing or refused);
   * - `"none"`: never TLS;
   * - absent: STARTTLS whenever offered, plaintext otherwise (unless `requireTls`).
   */
  readonly tls?: "implicit" | "starttls" | "none";
  /** Fail closed unless the connection is TLS before EHLO-after-TLS, AUTH and mail. Default: true for "implicit"/"starttls", false otherwise. */
  readonly requireTls?: boolean;
  /** Certificate checks: CA, client certificate, servername. Verification is on unless `rejectUnauthorized: false`. */
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
  /** Fallback to the next mechanism after a mechanism-level failure (core's policy). Default true. */
  readonly authFallback?: boolean;
  /** Most mechanisms tried. Default 3. */
  readonly maxAuthAttempts?: number;
  /** Most 334 challenges in one exchange. Default 10. */
  readonly maxAuthRounds?: number;
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
  /** Receives every line (AUTH client lines masked, always). See `printTranscript`. */
  readonly transcript?: TranscriptSink;
  /** Aborts the connection and everything pending. */
  readonly signal?: AbortSignal;
}

/** Every timeout, defaults filled in. */
export type ResolvedTimeouts = Required<SmtpTimeouts>;

const DEFAULT_TIMEOUTS: ResolvedTimeouts = { connect: 15000, greeting: 30000, command: 60000, data: 600000 };

export function resolveTimeouts(timeouts: SmtpTimeouts | undefined): ResolvedTimeouts {
  return { ...DEFAULT_TIMEOUTS, ...timeouts };
}

/** The port when none is given: 465 for implicit TLS, else 587 (submission, RFC 6409). */
export function defaultPort(options: SmtpClientOptions): number {
  return options.port ?? (options.tls === "implicit" ? 465 : 587);
}
