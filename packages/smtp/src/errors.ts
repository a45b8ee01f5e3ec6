import type { NegotiationRecord, SaslError, SaslErrorCode } from "@saslkit/core";
import { MailProtocolError, TransportError, type MailProtocolErrorOptions, type TransportErrorCode } from "@saslkit/transport";
import type { Envelope } from "./message.js";
import { formatReply, type SmtpReply } from "./reply.js";

/** Where in the session a failure happened. */
export type SmtpPhase = "connect" | "greeting" | "ehlo" | "starttls" | "authenticate" | "mail" | "rcpt" | "data" | "quit";

/**
 * Stable failure codes. Transport failures keep the transport's code, AUTH failures core's
 * `SaslErrorCode`; the rest are SMTP's own:
 * - `invalid-option`: an option the client does not accept (`option` names it);
 * - `rejected`: the server answered with an error reply (see `reply`);
 * - `malformed-reply`: the server sent something that is not an SMTP reply;
 * - `tls-required`: TLS was required (`tls: "starttls"`, or credentials to a remote host under
 *   the TLS default) and STARTTLS was missing or refused; nothing secret was sent;
 * - `smtputf8-required`: the message needs SMTPUTF8 and the server does not offer it;
 * - `message-too-large`: the message exceeds the server's advertised SIZE;
 * - `invalid-input`: a message, envelope or address the client refuses to send (CR/LF, `<>` ...);
 * - `no-recipients`: every recipient was refused;
 * - `client-closed`: the client was closed or quit while the operation was queued.
 * - `queue-full`: the pool's queue already holds `maxQueuedBytes` of messages; nothing was sent;
 * - `outcome-unknown`: the connection closed, timed out or was aborted (or the client closed) after
 *   the message's final dot and before the server's reply: the server MAY have accepted (and
 *   will deliver) the message.
 *   `envelope` names it; resending blindly can deliver it twice (RFC 1047). The transport
 *   failure is the `cause`.
 */
export type SmtpErrorCode =
  | TransportErrorCode
  | SaslErrorCode
  | "invalid-option"
  | "rejected"
  | "malformed-reply"
  | "tls-required"
  | "smtputf8-required"
  | "message-too-large"
  | "invalid-input"
  | "no-recipients"
  | "client-closed"
  | "queue-full"
  | "outcome-unknown";

/** See `MailProtocolErrorOptions`: `command` (masked), `reply`, `mechanism`, `negotiation`, `option`, `cause`, `redact`. */
export type SmtpErrorOptions = MailProtocolErrorOptions<SmtpReply, NegotiationRecord>;

/** Masks the connection's secrets in server-derived text (the connection's redactor), or nothing. */
export type Redact = ((text: string) => string) | undefined;

/**
 * Every failure of the SMTP client, in the shape the IMAP and POP3 clients share
 * (`MailProtocolError`, constructor `(phase, code, message, options)`): the `phase`, a stable
 * `code`, the last `command` sent (credentials masked: `AUTH PLAIN ****`), the server's `reply`
 * verbatim (secrets the connection sent masked), the SASL `mechanism` and the `negotiation`
 * record on AUTH failures. AUTH failures keep core's `SaslError` as `cause` (also in
 * `saslError`). Messages are full sentences and never contain a credential: every
 * server-derived string passes through the connection's redactor first.
 */
export class SmtpError extends MailProtocolError<SmtpPhase, SmtpErrorCode, SmtpReply, NegotiationRecord> {
  override readonly name = "SmtpError";
  /** Recipients refused at RCPT time, on failures of a send. */
  rejected: readonly { readonly address: string; readonly reply: SmtpReply }[] | undefined;
  /** The envelope of the message concerned, on failures of a send (always set for `outcome-unknown`). */
  envelope: Envelope | undefined;

  constructor(phase: SmtpPhase, code: SmtpErrorCode, message: string, options: SmtpErrorOptions = {}) {
    super(phase, code, `SMTP ${phase}: ${message}`, options);
  }

  /** The SaslError behind an AUTH failure, if any. */
  get saslError(): SaslError | undefined {
    const c = this.cause as { name?: string; code?: string } | undefined;
    return c && typeof c === "object" && "mechanism" in c && "kind" in c ? (c as SaslError) : undefined;
  }

  /** Builds the error for an unexpected reply; `redact` is the connection's redactor. */
  static fromReply(phase: SmtpPhase, what: string, reply: SmtpReply, command: string | undefined, redact: Redact): SmtpError {
    return new SmtpError(phase, "rejected", `${what} (${formatReply(reply)}).`, { reply, command, redact });
  }
}

/** Attaches the negotiation record to an AUTH failure that was built before the record existed. */
export function withNegotiation(error: SmtpError, negotiation: NegotiationRecord): SmtpError {
  if (error.negotiation === undefined) Object.defineProperty(error, "negotiation", { value: negotiation, enumerable: true });
  return error;
}

/**
 * The SmtpError for a failure of the connection under a command: a `TransportError` keeps its
 * code (a TLS failure moves to the "starttls" phase), anything else becomes "closed".
 */
export function transportFailure(error: unknown, phase: SmtpPhase, command: string | undefined, redact: Redact): SmtpError {
  if (error instanceof SmtpError) return error;
  if (error instanceof TransportError) {
    const p: SmtpPhase = error.code === "tls-failed" || error.code === "tls-injection" ? (phase === "connect" ? "connect" : "starttls") : phase;
    const what =
      error.code === "timeout"
        ? `the server did not answer in time${command ? ` after ${command}` : ""} (${error.message})`
        : error.code === "closed"
          ? `the connection closed${command ? ` after ${command}` : ""} (${error.message})`
          : error.message;
    return new SmtpError(p, error.code, `${what.replace(/\.$/, "")}.`, { cause: error, command, redact });
  }
  return new SmtpError(phase, "closed", `unexpected failure: ${(error as Error)?.message ?? String(error)}.`, { cause: error, command, redact });
}
