/**
 * @saslkit/imap: IMAP authentication (RFC 9051, RFC 3501, RFC 4959 SASL-IR) over saslkit's
 * mechanism registry, with a small command API for what comes after. Exports the client, its
 * options and errors, and the response types its command API returns; the parser and the
 * AUTHENTICATE framing stay internal.
 */
export { ImapClient, ImapConnection, type ImapCommandResult, type ImapConnectOptions } from "./client.js";
export type { ImapLimits } from "./wire.js";
export { ImapCapabilities } from "./capabilities.js";
export { ImapError, type ImapErrorCode, type ImapErrorOptions, type ImapPhase, type ImapReply } from "./errors.js";
export { valueString, type ImapValue, type ResponseCode, type TaggedResponse, type UntaggedResponse } from "./parser.js";
