/**
 * @saslkit/imap: IMAP authentication (RFC 9051, RFC 3501, RFC 4959 SASL-IR) over saslkit's
 * mechanism registry, with a small command API for what comes after.
 */
export { ImapClient, ImapConnection, type ImapCommandResult, type ImapConnectOptions } from "./client.js";
export type { ImapLimits } from "./wire.js";
export { ImapCapabilities } from "./capabilities.js";
export { ImapError, type ImapErrorCode, type ImapErrorOptions, type ImapPhase, type ImapReply } from "./errors.js";
export { ImapSaslExchange, MAX_IR_COMMAND_BYTES, failureCodeOf, type ImapExchangeOptions } from "./auth.js";
export {
  ImapParseError,
  literalLength,
  parseRespText,
  parseResponse,
  tokenize,
  valueString,
  type ContinuationResponse,
  type ImapResponse,
  type ImapValue,
  type ResponseCode,
  type TaggedResponse,
  type UntaggedResponse,
} from "./parser.js";
export { encodeLoginArgument, type LoginArgument } from "./login.js";
