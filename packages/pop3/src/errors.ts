/**
 * The POP3 adapter's error: the shape every saslkit mail client shares (`MailProtocolError`).
 */
import type { SaslErrorCode } from "@saslkit/core";
import { MailProtocolError, type MailProtocolErrorOptions, type MailReply, type NegotiationRecord, type TransportErrorCode } from "@saslkit/transport";

/** Where in the connection's life a `Pop3Error` happened. */
export type Pop3Phase = "connect" | "greeting" | "capability" | "starttls" | "authenticate" | "user" | "apop" | "command" | "quit";

/**
 * Stable codes to switch on:
 * - the transport's codes (`connect-failed`, `timeout`, `closed`, `line-too-long`, `tls-failed`, `tls-injection`, `aborted`);
 * - core's SASL codes for authentication outcomes (`authentication-failed`, `temporary-failure`,
 *   `no-mechanism`, `policy-refused`, ...), with core's `SaslError` as `cause`;
 * - `invalid-option`: an option is unknown, misspelt, from another library, or has a value outside those accepted;
 * - `server-rejected`: the greeting was `-ERR`;
 * - `tls-required`: TLS is required (or credentials would go to a remote host in clear) and the server offers no STLS or refused it;
 * - `command-failed`: STLS or CAPA answered `-ERR` where that is fatal;
 * - `login-disabled`: USER/PASS was asked for and the server's CAPA does not advertise `USER`;
 * - `apop-unavailable`: APOP was asked for and the greeting carries no timestamp;
 * - `response-too-large`: a multi-line answer passed `limits.responseBytes`.
 */
export type Pop3ErrorCode =
  | TransportErrorCode
  | SaslErrorCode
  | "invalid-option"
  | "server-rejected"
  | "tls-required"
  | "command-failed"
  | "login-disabled"
  | "apop-unavailable"
  | "response-too-large";

/** A POP3 reply: `+OK`/`-ERR`, the extended response code (RFC 2449 §8: `AUTH`, `SYS/TEMP`, `IN-USE`), the text and the raw line. */
export type Pop3Reply = MailReply<"+OK" | "-ERR">;

export type Pop3ErrorOptions = MailProtocolErrorOptions<Pop3Reply, NegotiationRecord>;

/**
 * Every failure of `@saslkit/pop3`. `command` is the last command sent with credentials masked
 * (`AUTH PLAIN ****`, `PASS ****`); `reply` the server's answer; `mechanism` the SASL mechanism
 * involved; `login` is `"USER"` or `"APOP"` when that login failed; `negotiation` what was
 * offered, planned and tried; `cause` the transport's `TransportError` or core's `SaslError`.
 * Messages never contain a credential.
 */
export class Pop3Error extends MailProtocolError<Pop3Phase, Pop3ErrorCode, Pop3Reply, NegotiationRecord> {
  override readonly name = "Pop3Error";
  static override readonly protocol = "POP3";
}
