/** SMTP pieces for the hardening suite, re-exported from @saslkit/smtp's public index. */
export { MalformedReplyError, ReplyParser, dotStuff, formatReply, parseCapabilities, parseReply } from "@saslkit/smtp";

/** @saslkit/smtp's multi-line cap (MAX_REPLY_LINES, not exported from its index): 1000 lines. */
export const MAX_REPLY_LINES_FOR_TEST = 1000;
