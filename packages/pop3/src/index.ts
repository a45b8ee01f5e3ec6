/**
 * @saslkit/pop3: POP3 authentication (RFC 1939, RFC 2449 CAPA, RFC 5034 AUTH, RFC 2595 STLS)
 * over saslkit's mechanism registry, with a small command API for what comes after. Exports the
 * client, its options and errors; the reply parser and the AUTH framing stay internal.
 */
export { Pop3Client, Pop3Connection, type Pop3CommandResult, type Pop3ConnectOptions, type Pop3Limits } from "./client.js";
export { Pop3Capabilities } from "./capabilities.js";
export { Pop3Error, type Pop3ErrorCode, type Pop3ErrorOptions, type Pop3Phase, type Pop3Reply } from "./errors.js";
