/**
 * @saslkit/mech-external: the EXTERNAL SASL mechanism (RFC 4422 Appendix A), client and server halves.
 */
export { ExternalClient, ExternalServer, external, registerExternal } from "./external.js";
