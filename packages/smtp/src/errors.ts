import type { SaslError, SaslErrorCode } from "@saslkit/core";
import { TransportError, type TransportErrorCode } from "@saslkit/transport";
import type { Envelope } from "./message.js";
import { formatReply, type SmtpReply } from "./reply.js";

/** Where in the session a failure happened. */
export type SmtpPhase = "connect" | "tls" | "greeting" | "ehlo" | "auth" | "mail" | "rcpt" | "data" | "quit";

/**
 * Stable failure codes. Transport failures keep the transport's code, AUTH failures core's
 * `SaslErrorCode`; the rest are SMTP's own:
 * - `rejected`: the server answered with an error reply (see `reply`);
 * - `malformed-reply`: the server sent something that is not an SMTP reply;
 * - `tls-required`: `requireTls` and STARTTLS was missing or refused;
 * - `smtputf8-required`: the message needs SMTPUTF8 and the server does not offer it;
 * - `message-too-large`: the message exceeds the server's advertised SIZE;
 * - `invalid-input`: an address or option the client refuses to send (CR/LF, `<>` ...);
 * - `no-recipients`: every recipient was refused;
 * - `client-closed`: the client was closed or quit while the operation was queued.
 * - `outcome-unknown`: the connection closed or timed out after the message's final dot and
 *   before the server's reply: the server MAY have accepted (and will deliver) the message.
 *   `envelope` names it; resending blindly can deliver it twice (RFC 1047). The transport
 *   failure is the `cause`.
 */
export type SmtpErrorCode =
  | TransportErrorCode
  | SaslErrorCode
  | "rejected"
  | "malformed-reply"
  | "tls-required"
  | "smtputf8-required"
  | "message-too-large"
  | "invalid-input"
  | "no-recipients"
  | "client-closed"
  | "outcome-unknown";

export interface SmtpErrorOptions {
  readonly command?: string | undefined;
  readonly reply?: SmtpReply | undefined;
  readonly cause?: unknown;
}

/**
 * Every failure of the SMTP client. Carries the `phase`, the last `command` sent (credentials
 * masked: `AUTH PLAIN ****`), the server's `reply` verbatim when there was one, and a stable
 * `code`. AUTH failures keep core's `SaslError` as `cause` (also in `saslError`). Messages are
 * full sentences and never contain a credential.
 */
export class SmtpError extends Error {
  override readonly name = "SmtpError";
  readonly phase: SmtpPhase;
  readonly code: SmtpErrorCode;
  readonly command: string | undefined;
  readonly reply: SmtpReply | undefined;
  /** Recipients refused at RCPT time, on failures of a send. */
  rejected: readonly { readonly address: string; readonly reply: SmtpReply }[] | undefined;
  /** The envelope of the message concerned, on failures of a send (always set for `outcome-unknown`). */
  envelope: Envelope | undefined;

  constructor(phase: SmtpPhase, code: SmtpErrorCode, message: string, options: SmtpErrorOptions = {}) {
    super(`SMTP ${phase}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.phase = phase;
    this.code = code;
    this.command = options.command;
    this.reply = options.reply;
  }

  /** The SaslError behind an AUTH failure, if any. */
  get saslError(): SaslError | undefined {
    const c = this.cause as { name?: string; code?: string } | undefined;
    return c && typeof c === "object" && "mechanism" in c && "kind" in c ? (c as SaslError) : undefined;
  }

  /** Builds the error for an unexpected reply. */
  static fromReply(phase: SmtpPhase, what: string, reply: SmtpReply, command?: string): SmtpError {
    return new SmtpError(phase, "rejected", `${what} (${formatReply(reply)}).`, { reply, command });
  }
}

/**
 * The SmtpError for a failure of the connection under a command: a `TransportError` keeps its
 * code (a TLS failure moves to the "tls" phase), anything else becomes "closed".
 */
export function transportFailure(error: unknown, phase: SmtpPhase, command: string | undefined): SmtpError {
  if (error instanceof SmtpError) return error;
  if (error instanceof TransportError) {
    const p: SmtpPhase = error.code === "tls-failed" || error.code === "tls-injection" ? "tls" : phase;
    const what =
      error.code === "timeout"
        ? `the server did not answer in time${command ? ` after ${command}` : ""} (${error.message})`
        : error.code === "closed"
          ? `the connection closed${command ? ` after ${command}` : ""} (${error.message})`
          : error.message;
    return new SmtpError(p, error.code, `${what.replace(/\.$/, "")}.`, { cause: error, command });
  }
  return new SmtpError(phase, "closed", `unexpected failure: ${(error as Error)?.message ?? String(error)}.`, { cause: error, command });
}
