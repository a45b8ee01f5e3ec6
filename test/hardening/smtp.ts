/**
 * SMTP internals for the hardening suite. The parsers and the DATA encoder are not part of
 * @saslkit/smtp's public index (economy of exports), so they are imported from its sources.
 */
export { MalformedReplyError, ReplyParser, formatReply, parseCapabilities, parseReply, MAX_REPLY_LINES } from "../../packages/smtp/src/reply.js";
export { dotStuff } from "../../packages/smtp/src/data.js";

/** @saslkit/smtp's multi-line cap (MAX_REPLY_LINES): 1000 lines. */
export const MAX_REPLY_LINES_FOR_TEST = 1000;
