/**
 * @saslkit/smtp-server: a small embeddable SMTP server (RFC 5321) that authenticates clients
 * with saslkit server mechanisms through the registry (RFC 4954). For demos, tests and local tools.
 */
export { SmtpServer } from "./server.js";
export { SmtpServerOptionError, type Envelope, type ReceivedMessage, type ServerTranscriptEntry, type SmtpServerHandle, type SmtpServerOptions } from "./options.js";
export { MessageAbortedError, MessageTooLargeError } from "./message.js";
