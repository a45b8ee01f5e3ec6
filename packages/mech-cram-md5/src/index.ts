/**
 * @saslkit/mech-cram-md5: the CRAM-MD5 SASL mechanism (RFC 2195), client and server halves.
 */
export {
  CRAM_MD5_MAX_CHALLENGE_BYTES,
  CRAM_MD5_MAX_RESPONSE_BYTES,
  CramMd5Client,
  CramMd5ClientState,
  CramMd5Server,
  CramMd5ServerState,
  cramMd5,
  cramMd5Digest,
  makeCramMd5Challenge,
  registerCramMd5,
  type CramMd5ServerSettings,
} from "./cram-md5.js";
