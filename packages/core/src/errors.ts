/**
 * The closed error taxonomy of saslkit.
 *
 * Every failure a mechanism, the negotiator or the session driver reports is a `SaslError`
 * (or a subclass) carrying:
 * - `mechanism`: the SASL mechanism name involved, or `undefined` before one was chosen;
 * - `code`: one of the `SaslErrorCode` strings below, stable for programs to switch on;
 * - `kind`: the coarse class (`input`, `parse`, `protocol`, `outcome`, `policy`), as rsasl does.
 *
 * Messages are full sentences that start with the mechanism name ("CRAM-MD5: challenge is empty.")
 * and never contain a credential: no password or other secret, and none of their encodings.
 */

/** Every code saslkit's core and mechanisms can raise. Closed set: adapters add context, not codes. */
export type SaslErrorCode =
  /** The caller's credentials are unusable as given (NUL in PLAIN, SASLprep refused, empty user). */
  | "invalid-credentials-input"
  /** The mechanism needs a credential the caller did not give (no user name, no password). */
  | "missing-credentials"
  /** The server's challenge could not be parsed, was empty where data is needed, or was not UTF-8. */
  | "invalid-challenge"
  /** The client's response could not be parsed (server halves). */
  | "invalid-response"
  /** The server could not prove it knows the credentials (a mutual-authentication proof wrong, missing or malformed). */
  | "server-verification-failed"
  /** The server reported an error inside the mechanism (an error message the mechanism defines). */
  | "server-error"
  /** A method was called in a state where it is not allowed (a step after completion). */
  | "bad-state"
  /** The exchange went over the configured number of rounds (a server that loops). */
  | "too-many-rounds"
  /** A challenge was larger than the configured limit. */
  | "challenge-too-large"
  /** The server rejected the credentials (SMTP 535, IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]). */
  | "authentication-failed"
  /** The server does not support, or will not use, this mechanism (SMTP 504, IMAP NO/BAD). */
  | "mechanism-rejected"
  /** The server refuses this mechanism as too weak (SMTP 534, RFC 4954): only a stronger one may follow. */
  | "mechanism-too-weak"
  /** The server failed temporarily (SMTP 454, IMAP [UNAVAILABLE], POP3 [SYS/TEMP]). */
  | "temporary-failure"
  /** The server requires encryption before this mechanism (SMTP 538, 530 for STARTTLS first). */
  | "encryption-required"
  /** The authorization identity was refused (RFC 4616 example 2). */
  | "authorization-failed"
  /** The exchange was aborted, by the caller or by the server. */
  | "aborted"
  /** The server sent something the protocol does not allow at this point (adapter-reported). */
  | "protocol-error"
  /** No installed mechanism is usable with what the server offers, the credentials and the policy. */
  | "no-mechanism"
  /** The security policy forbids what was asked (cleartext password on an insecure channel). */
  | "policy-refused";

/** Coarse class of an error, for callers that only want to know whose fault it is. */
export type SaslErrorKind = "input" | "parse" | "protocol" | "outcome" | "policy";

const KIND: Record<SaslErrorCode, SaslErrorKind> = {
  "invalid-credentials-input": "input",
  "missing-credentials": "input",
  "invalid-challenge": "parse",
  "invalid-response": "parse",
  "server-verification-failed": "outcome",
  "server-error": "outcome",
  "bad-state": "protocol",
  "too-many-rounds": "protocol",
  "challenge-too-large": "protocol",
  "authentication-failed": "outcome",
  "mechanism-rejected": "outcome",
  "mechanism-too-weak": "outcome",
  "temporary-failure": "outcome",
  "encryption-required": "policy",
  "authorization-failed": "outcome",
  aborted: "protocol",
  "protocol-error": "protocol",
  "no-mechanism": "policy",
  "policy-refused": "policy",
};

/**
 * What an adapter knows of the server's reply that ended an exchange, in protocol-neutral form.
 * `status` is the protocol's status word or code (`535`, `NO`, `-ERR`), `enhanced` an RFC 3463
 * code or IMAP/POP3 response code (`5.7.8`, `AUTHENTICATIONFAILED`, `AUTH`), `text` the
 * human-readable rest, verbatim.
 */
export interface ServerReplyInfo {
  readonly status: string;
  readonly enhanced?: string;
  readonly text: string;
}

export interface SaslErrorOptions {
  /** The underlying error, if any. Never an error whose message holds a credential. */
  readonly cause?: unknown;
  /** The server reply that ended the exchange, when there was one. */
  readonly reply?: ServerReplyInfo;
  /** Mechanism-specific detail, e.g. a decoded error message `{ status, scope }`. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** One mechanism tried by `authenticate`, and the error that ended it (none when it succeeded). */
export interface AttemptRecord {
  readonly mechanism: string;
  readonly error?: SaslError;
}

/** The one error class of saslkit's SASL layer. See the module comment for its contract. */
export class SaslError extends Error {
  override readonly name: string = "SaslError";
  readonly kind: SaslErrorKind;
  /** Set by `authenticate` on the error it throws: every mechanism tried, in order. */
  attempts: readonly AttemptRecord[] = [];
  readonly reply: ServerReplyInfo | undefined;
  readonly detail: Readonly<Record<string, unknown>> | undefined;
  /**
   * Set by `authenticate`: the mechanism's first message, which carries the secret, reached the
   * server, or a later message carried the secret or a proof of it (`SaslMechanism.secretUsed`). `allowsFallback` is then false, and adapters must not try a protocol login either.
   */
  secretSent = false;

  constructor(
    readonly mechanism: string | undefined,
    readonly code: SaslErrorCode,
    message: string,
    options: SaslErrorOptions = {},
  ) {
    super(mechanism ? `${mechanism}: ${message}` : message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = KIND[code];
    this.reply = options.reply;
    this.detail = options.detail;
  }

  /** A JSON form for logs: no cause chain, attempts as `{ mechanism, code }` (no cycles). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      mechanism: this.mechanism,
      code: this.code,
      kind: this.kind,
      reply: this.reply,
      detail: this.detail,
      attempts: this.attempts.map((a) => ({ mechanism: a.mechanism, code: a.error?.code })),
      ...(this.secretSent ? { secretSent: true } : {}),
    };
  }
}

/** Why the negotiator set an installed or offered mechanism aside. */
export type RefusalReason =
  | "not-offered"
  | "not-installed"
  | "excluded"
  | "not-forced"
  | "missing-credentials"
  | "cleartext-password"
  | "explicit-only"
  | "unusable";

/** One line of a negotiation report: a mechanism name and why it was not chosen. */
export interface Refusal {
  readonly mechanism: string;
  readonly reason: RefusalReason;
  /** A sentence for humans, e.g. "PLAIN sends the password in clear and the channel is not TLS." */
  readonly explanation: string;
}

/**
 * Raised when negotiation leaves no candidate. Carries what the server offered, what is
 * installed, and why each was refused, so a user can see at once what to change.
 */
export class NoMechanismError extends SaslError {
  override readonly name = "NoMechanismError";
  constructor(
    readonly offered: readonly string[],
    readonly installed: readonly string[],
    readonly refused: readonly Refusal[],
  ) {
    super(
      undefined,
      "no-mechanism",
      `No usable SASL mechanism. Server offered [${offered.join(" ") || "nothing"}]; installed [${installed.join(" ") || "nothing"}]` +
        (refused.length ? `; refused: ${refused.map((r) => `${r.mechanism} (${r.explanation})`).join("; ")}` : "") +
        ".",
    );
  }
}
