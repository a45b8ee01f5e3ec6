/**
 * @saslkit/smtp: an SMTP client with SASL authentication through saslkit's registry
 * (RFC 5321, RFC 4954 AUTH, RFC 3207 STARTTLS, RFC 2920 PIPELINING).
 *
 * Exports what users call and the types of its options, results and errors, and RFC 4954's two
 * rules for anyone framing SMTP AUTH over another SMTP client (@saslkit/nodemailer does): how long
 * an AUTH line with its initial response may be, and which core failure a final reply code means.
 * The reply parser, the DATA encoder and the AUTH framing itself are internal (the package's tests
 * import them by path).
 */
export { SmtpClient, printTranscript, sendMail } from "./client.js";
export type { PipeliningMode, SmtpClientOptions, SmtpTimeouts } from "./options.js";
export type { RejectedRecipient, SendResult } from "./transaction.js";
export type { OutgoingMessage, SendManyOptions, SendOutcome } from "./many.js";
export { authFailureCode, initialResponseFits } from "./auth.js";
export { QUEUED_STREAM_BYTES, SmtpPool, createPool, type SmtpPoolOptions, type SmtpPoolStats } from "./pool.js";
export { SmtpError, type SmtpErrorCode, type SmtpErrorOptions, type SmtpPhase } from "./errors.js";
export { formatReply, type SmtpCapabilities, type SmtpReply } from "./reply.js";
export type { Envelope, Message, MessageObject, RawMessage, SendOptions } from "./message.js";
export type { NegotiationRecord } from "@saslkit/core";
export type { TranscriptEntry, TranscriptSink, TlsSettings } from "@saslkit/transport";
