/**
 * The IMAP adapter's error: where it failed, what was sent (masked) and what the server said.
 */
import type { SaslErrorCode } from "@saslkit/core";
import type { TransportErrorCode } from "@saslkit/transport";

/** Where in the connection's life an `ImapError` happened. */
export type ImapPhase = "connect" | "greeting" | "capability" | "starttls" | "authenticate" | "login" | "command" | "logout";

/**
 * Stable codes to switch on:
 * - the transport's codes (`connect-failed`, `timeout`, `closed`, `line-too-long`, `tls-failed`, `tls-injection`, `aborted`);
 * - core's SASL codes for authentication outcomes (`authentication-failed`, `no-mechanism`, `policy-refused`, ...),
 *   the `SaslError` itself being the `cause`;
 * - `server-bye`: the server greeted with or sent `BYE`;
 * - `tls-unavailable`: TLS was required but the server offers no STARTTLS (or greeted with PREAUTH on cleartext);
 * - `login-disabled`: the LOGIN command was asked for and the server advertises `LOGINDISABLED`;
 * - `command-failed`: STARTTLS or CAPABILITY answered `NO`/`BAD`.
 */
export type ImapErrorCode = TransportErrorCode | SaslErrorCode | "server-bye" | "tls-unavailable" | "login-disabled" | "command-failed";

/** The server reply that ended the operation, verbatim. */
export interface ImapReply {
  /** `OK`, `NO`, `BAD`, `BYE` or `PREAUTH`. */
  readonly status: string;
  /** The response code name (`AUTHENTICATIONFAILED`), when there was one. */
  readonly code?: string;
  /** The human-readable text after the code. */
  readonly text: string;
  /** The whole response line as received. */
  readonly raw: string;
}

export interface ImapErrorOptions {
  readonly command?: string;
  readonly reply?: ImapReply;
  readonly cause?: unknown;
}

/**
 * Every failure of `@saslkit/imap`. `command` is the last command line sent with every credential
 * masked (`A2 AUTHENTICATE PLAIN ****`); `reply` the server's answer verbatim; `cause` the
 * transport's `TransportError` or core's `SaslError` (with its `attempts`). Messages never contain
 * a credential.
 */
export class ImapError extends Error {
  override readonly name = "ImapError";
  readonly command: string | undefined;
  readonly reply: ImapReply | undefined;

  constructor(
    readonly code: ImapErrorCode,
    readonly phase: ImapPhase,
    message: string,
    options: ImapErrorOptions = {},
  ) {
    super(`IMAP ${phase}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.command = options.command;
    this.reply = options.reply;
  }
}
