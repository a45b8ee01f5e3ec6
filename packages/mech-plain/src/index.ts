/**
 * @saslkit/mech-plain: the PLAIN SASL mechanism (RFC 4616), client and server halves.
 */
export { PlainClient, PlainServer, plain, registerPlain } from "./plain.js";
