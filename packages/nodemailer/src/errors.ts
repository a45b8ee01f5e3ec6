/**
 * The error the hook hands to nodemailer. nodemailer then sets `code = "EAUTH"`, `command`, and,
 * when a server reply was read, appends it to `message` and sets `response`, `responseCode` and
 * `permanent` (`SMTPConnection#_formatError`). This class decides what of that it accepts:
 *
 * - a failure after an AUTH command keeps the server's reply, masked: nodemailer users read
 *   `err.responseCode` and the message ends with the reply once (our own text never repeats it);
 * - a failure before any AUTH command (nothing to negotiate, a secret refused on cleartext) has no
 *   relevant reply: the last one nodemailer saw is the EHLO answer the hook asked for, so it is not
 *   appended (it would read as if the server had refused something).
 */
import type { NegotiationRecord, Refusal } from "@saslkit/core";

export type SaslkitAuthReason =
  /** Negotiation left no mechanism to try (see `negotiation.refused`). */
  | "no-mechanism"
  /** The server's EHLO reply could not be used (not 250, or no AUTH line). */
  | "capabilities"
  /** A mechanism ran and failed; `cause` is core's `SaslError` with its code. */
  | "sasl"
  /** The SMTP connection failed under the exchange. */
  | "connection";

export interface SaslkitAuthErrorOptions {
  readonly reason: SaslkitAuthReason;
  readonly negotiation: NegotiationRecord | undefined;
  readonly mechanism?: string | undefined;
  /** Whether nodemailer may append the last server reply (true only once AUTH was sent). */
  readonly acceptsReply: boolean;
  /** Masks server text before it enters the error. */
  readonly scrub: (text: string) => string;
  readonly cause?: unknown;
}

export class SaslkitAuthError extends Error {
  override readonly name = "SaslkitAuthError";
  /** nodemailer's code for every authentication failure; saslkit's own code is `cause.code` when the cause is a SaslError. */
  code = "EAUTH";
  readonly reason: SaslkitAuthReason;
  /** What was offered, installed, refused (with why), tried and chosen. */
  readonly negotiation: NegotiationRecord | undefined;
  /** The SASL mechanism that failed, when one ran. */
  readonly mechanism: string | undefined;
  #text: string;
  #response: string | undefined;
  #responseCode: number | undefined;
  #permanent: boolean | undefined;
  readonly #acceptsReply: boolean;
  readonly #scrub: (text: string) => string;

  constructor(message: string, options: SaslkitAuthErrorOptions) {
    super("", options.cause === undefined ? undefined : { cause: options.cause });
    this.#text = message;
    this.#acceptsReply = options.acceptsReply;
    this.#scrub = options.scrub;
    this.reason = options.reason;
    this.negotiation = options.negotiation;
    this.mechanism = options.mechanism;
    // `super("")` created an own, empty `message`; the accessors below replace it.
    delete (this as { message?: string }).message;
    Error.captureStackTrace?.(this, SaslkitAuthError);
  }

  override get message(): string {
    return this.#text;
  }

  /** nodemailer appends `: <last reply>` here; kept (masked) only after AUTH was sent. */
  override set message(value: string) {
    if (this.#acceptsReply) this.#text = this.#scrub(String(value));
  }

  /** The server's last reply (masked), as nodemailer sets it; undefined before AUTH. */
  get response(): string | undefined {
    return this.#response;
  }

  set response(value: string | undefined) {
    if (this.#acceptsReply && typeof value === "string") this.#response = this.#scrub(value);
  }

  /** The reply's status code, as nodemailer sets it; undefined before AUTH. */
  get responseCode(): number | undefined {
    return this.#responseCode;
  }

  set responseCode(value: number | undefined) {
    if (this.#acceptsReply && typeof value === "number") this.#responseCode = value;
  }

  /** nodemailer's "a 5xx reply": undefined before AUTH. */
  get permanent(): boolean | undefined {
    return this.#permanent;
  }

  set permanent(value: boolean | undefined) {
    if (this.#acceptsReply && typeof value === "boolean") this.#permanent = value;
  }

  /** The refusals negotiation recorded, for messages and logs. */
  get refused(): readonly Refusal[] {
    return this.negotiation?.refused ?? [];
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, code: this.code, reason: this.reason, mechanism: this.mechanism, response: this.response, responseCode: this.responseCode, negotiation: this.negotiation };
  }
}
