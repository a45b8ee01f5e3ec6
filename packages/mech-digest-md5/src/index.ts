/**
 * @saslkit/mech-digest-md5: the DIGEST-MD5 SASL mechanism (RFC 2831; historic per RFC 6331),
 * authentication only (qop=auth), client and server halves.
 */
export {
  DIGEST_MD5_MAX_CHALLENGE_BYTES,
  DigestMd5Client,
  DigestMd5ClientState,
  parseDigestChallenge,
  type DigestChallenge,
  type DigestMd5ClientSettings,
} from "./client.js";
export { DIGEST_MD5_MAX_RESPONSE_BYTES, DigestMd5Server, digestMd5Secret, DigestMd5ServerState, type DigestMd5ServerSettings } from "./server.js";
export { type DigestMd5Options, type DigestMd5ServerOptions } from "./options.js";
export { digestMd5, registerDigestMd5 } from "./provider.js";
