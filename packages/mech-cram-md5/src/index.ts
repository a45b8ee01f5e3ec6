/**
 * @saslkit/mech-cram-md5: the CRAM-MD5 SASL mechanism (RFC 2195), client and server halves.
 */
export { CramMd5Client, CramMd5Server, cramMd5, registerCramMd5, type CramMd5ServerSettings } from "./cram-md5.js";
