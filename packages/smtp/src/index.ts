/**
 * @saslkit/smtp: an SMTP client with SASL authentication through saslkit's registry
 * (RFC 5321, RFC 4954 AUTH, RFC 3207 STARTTLS, RFC 2920 PIPELINING).
 *
 * Exports what users call and the types of its options, results and errors. The reply parser,
 * the DATA encoder and the AUTH framing are internal (the package's tests import them by path).
 */
export { SmtpClient, printTranscript, sendMail } from "./client.js";
export type { PipeliningMode, SmtpClientOptions, SmtpTimeouts } from "./options.js";
export type { RejectedRecipient, SendResult } from "./transaction.js";
export type { OutgoingMessage, SendManyOptions, SendOutcome } from "./many.js";
export { SmtpPool, createPool, type SmtpPoolOptions, type SmtpPoolStats } from "./pool.js";
export { SmtpError, type SmtpErrorCode, type SmtpErrorOptions, type SmtpPhase } from "./errors.js";
export { formatReply, type SmtpCapabilities, type SmtpReply } from "./reply.js";
export type { Envelope, Message, MessageObject, RawMessage, SendOptions } from "./message.js";
export type { NegotiationRecord } from "@saslkit/core";
export type { TranscriptEntry, TranscriptSink, TlsSettings } from "@saslkit/transport";
