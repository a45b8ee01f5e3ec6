/**
 * @saslkit/smtp: an SMTP client with SASL authentication through saslkit's registry
 * (RFC 5321, RFC 4954 AUTH, RFC 3207 STARTTLS, RFC 2920 PIPELINING).
 */
export { SmtpClient, printTranscript, sendMail } from "./client.js";
export type { PipeliningMode, SmtpClientOptions, SmtpTimeouts } from "./options.js";
export { parseQueueId, type RejectedRecipient, type SendResult } from "./transaction.js";
export { SmtpError, type SmtpErrorCode, type SmtpErrorOptions, type SmtpPhase } from "./errors.js";
export { MalformedReplyError, ReplyParser, formatReply, parseCapabilities, parseReply, replyMessage, type SmtpCapabilities, type SmtpReply } from "./reply.js";
export { MAX_AUTH_LINE, SmtpSaslExchange, authFailureCode, type SmtpCommandChannel, type SmtpNegotiation } from "./auth.js";
export { DotEncoder, DotStuffer, dotStuff } from "./data.js";
export type { OutgoingMessage, SendManyOptions, SendOutcome } from "./many.js";
export { SmtpPool, createPool, type SmtpPoolOptions, type SmtpPoolStats } from "./pool.js";
export { addressProblem, needsSmtpUtf8, prepareMessage, type Envelope, type Message, type MessageObject, type PreparedMessage, type RawMessage, type SendOptions } from "./message.js";
export type { TranscriptEntry, TranscriptSink, TlsSettings } from "@saslkit/transport";
