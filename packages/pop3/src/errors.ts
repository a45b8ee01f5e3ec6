/**
 * The POP3 adapter's error: where it failed, what was sent (masked) and what the server said.
 */
import type { SaslErrorCode } from "@saslkit/core";
import type { TransportErrorCode } from "@saslkit/transport";

/** Where in the connection's life a `Pop3Error` happened. */
export type Pop3Phase = "connect" | "greeting" | "capability" | "starttls" | "authenticate" | "user" | "apop" | "command" | "quit";

/**
 * Stable codes to switch on:
 * - the transport's codes (`connect-failed`, `timeout`, `closed`, `line-too-long`, `tls-failed`, `tls-injection`, `aborted`);
 * - core's SASL codes for authentication outcomes (`authentication-failed`, `temporary-failure`,
 *   `no-mechanism`, `policy-refused`, ...), with core's `SaslError` as `cause` for AUTH;
 * - `server-rejected`: the greeting was `-ERR`;
 * - `tls-unavailable`: TLS was required but the server offers no STLS;
 * - `command-failed`: STLS or CAPA answered `-ERR` where that is fatal;
 * - `apop-unavailable`: APOP was asked for and the greeting carries no timestamp.
 */
export type Pop3ErrorCode = TransportErrorCode | SaslErrorCode | "server-rejected" | "tls-unavailable" | "command-failed" | "apop-unavailable";

/** A POP3 reply verbatim: `+OK`/`-ERR`, the extended response code (RFC 2449 §8), the text. */
export interface Pop3Reply {
  readonly status: "+OK" | "-ERR";
  /** `AUTH`, `SYS/TEMP`, `IN-USE`, ... when the text starts with `[CODE]`. */
  readonly code?: string;
  readonly text: string;
  /** The whole line as received. */
  readonly raw: string;
}

export interface Pop3ErrorOptions {
  readonly command?: string;
  readonly reply?: Pop3Reply;
  readonly cause?: unknown;
}

/**
 * Every failure of `@saslkit/pop3`. `command` is the last command sent with credentials masked
 * (`AUTH PLAIN ****`, `PASS ****`); `reply` the server's answer verbatim; `cause` the transport's
 * `TransportError` or core's `SaslError`. Messages never contain a credential.
 */
export class Pop3Error extends Error {
  override readonly name = "Pop3Error";
  readonly command: string | undefined;
  readonly reply: Pop3Reply | undefined;

  constructor(
    readonly code: Pop3ErrorCode,
    readonly phase: Pop3Phase,
    message: string,
    options: Pop3ErrorOptions = {},
  ) {
    super(`POP3 ${phase}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.command = options.command;
    this.reply = options.reply;
  }
}
