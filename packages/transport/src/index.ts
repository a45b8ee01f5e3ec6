/**
 * @saslkit/transport: the line socket every saslkit adapter codes against (deadlines, bounded
 * lines, STARTTLS with injection check, channel binding, one redaction seam for transcripts and
 * errors), strict base64, the error base every mail client extends, and run-time option checks.
 * The test kit lives in the private @saslkit/test-kit.
 */
export { TransportError, type TransportErrorCode } from "./errors.js";
export { Deadline, MAX_TIMER_MS, timerDelay, unwatchDeadline, watchDeadline, type DeadlineWatch } from "./deadline.js";
export {
  LineSocket,
  WRITTEN,
  type AcceptOptions,
  type ConnectOptions,
  type ServerTlsOptions,
  type TlsSettings,
  type TranscriptEntry,
  type TranscriptSink,
  type WriteOptions,
} from "./line-socket.js";
export { decodeBase64, encodeBase64 } from "./base64.js";
export { channelBindingFor, endPointHash } from "./channel.js";
export { verifyClientCertificate, type ClientCertificateVerdict } from "./client-certificate.js";
export { Redactor } from "./redactor.js";
export { openClientSocket, type ClientSocketOptions } from "./client-socket.js";
export { MailProtocolError, redactDeep, type LoginCommand, type MailProtocolErrorOptions, type MailReply } from "./mail-error.js";
export { FOREIGN_KEYS, checkOptions, rules, sharedClientOptions, type OptionProblem, type OptionSpec, type Rule } from "./options.js";
export {
  DEFAULT_TIMEOUTS,
  MailSession,
  type AuthenticationOutcome,
  type AuthenticationPlan,
  type ExchangeContext,
  type LoginOutcome,
  type MailClientOptions,
  type MailExchange,
  type MailProtocol,
  type MailTimeouts,
  type NegotiationRecord,
  type ProtocolLogin,
  type TlsMode,
} from "./mail-session.js";
