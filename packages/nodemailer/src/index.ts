/**
 * @saslkit/nodemailer: saslkit's SASL mechanisms and negotiation inside nodemailer. One call
 * around the transport options; nodemailer keeps the connection, TLS, the message and its log.
 */
export { saslkit, SaslkitOptionError, type NodemailerSmtpOptions, type SaslkitOptions } from "./transport.js";
export { SASLKIT_METHOD } from "./auth.js";
export { SaslkitAuthError, type SaslkitAuthReason } from "./errors.js";
export type { NegotiationRecord } from "@saslkit/core";
