/**
 * @saslkit/mech-anonymous: the ANONYMOUS SASL mechanism (RFC 4505), client and server halves.
 */
export { AnonymousClient, AnonymousServer, TRACE, anonymous, registerAnonymous } from "./anonymous.js";
