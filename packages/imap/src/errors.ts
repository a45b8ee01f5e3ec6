/**
 * The IMAP adapter's error: the shape every saslkit mail client shares (`MailProtocolError`).
 */
import type { SaslErrorCode } from "@saslkit/core";
import { MailProtocolError, type MailProtocolErrorOptions, type MailReply, type NegotiationRecord, type TransportErrorCode } from "@saslkit/transport";

/** Where in the connection's life an `ImapError` happened. */
export type ImapPhase = "connect" | "greeting" | "capability" | "starttls" | "authenticate" | "login" | "command" | "logout";

/**
 * Stable codes to switch on:
 * - the transport's codes (`connect-failed`, `timeout`, `closed`, `line-too-long`, `tls-failed`, `tls-injection`, `aborted`);
 * - core's SASL codes for authentication outcomes (`authentication-failed`, `no-mechanism`, `policy-refused`, ...),
 *   the `SaslError` itself being the `cause`;
 * - `invalid-option`: an option is unknown, misspelt, from another library, or has a value outside those accepted;
 * - `server-bye`: the server greeted with or sent `BYE`;
 * - `tls-required`: TLS is required (or credentials would go to a remote host in clear) and the server offers no
 *   STARTTLS, refused it, or greeted with PREAUTH on cleartext;
 * - `login-disabled`: the LOGIN command was asked for and the server advertises `LOGINDISABLED`;
 * - `command-failed`: STARTTLS or CAPABILITY answered `NO`/`BAD`;
 * - `response-too-large`: one response passed `limits.responseBytes` or `limits.literals`;
 * - `too-many-responses`: the untagged responses of one command passed `limits.commandBytes` or `limits.untagged`.
 */
export type ImapErrorCode =
  | TransportErrorCode
  | SaslErrorCode
  | "invalid-option"
  | "server-bye"
  | "tls-required"
  | "login-disabled"
  | "command-failed"
  | "response-too-large"
  | "too-many-responses";

/** The server reply that ended the operation: `OK`, `NO`, `BAD`, `BYE` or `PREAUTH`, its response code, text and raw line. */
export type ImapReply = MailReply;

export type ImapErrorOptions = MailProtocolErrorOptions<ImapReply, NegotiationRecord>;

/**
 * Every failure of `@saslkit/imap`. `command` is the last command line sent with every credential
 * masked (`A2 AUTHENTICATE PLAIN ****`); `reply` the server's answer; `mechanism` the SASL
 * mechanism involved; `login` is `"LOGIN"` when the LOGIN command failed; `negotiation` what
 * was offered, planned and tried; `cause` the transport's `TransportError` or core's `SaslError`.
 * Messages never contain a credential.
 */
export class ImapError extends MailProtocolError<ImapPhase, ImapErrorCode, ImapReply, NegotiationRecord> {
  override readonly name = "ImapError";
  static override readonly protocol = "IMAP";
}
