/**
 * @saslkit/mech-plain: the PLAIN SASL mechanism (RFC 4616), client and server halves.
 */
export {
  PLAIN_MAX_FIELD_OCTETS,
  PlainClient,
  PlainClientState,
  PlainServer,
  PlainServerState,
  buildPlainMessage,
  parsePlainMessage,
  plain,
  registerPlain,
  type PlainMessage,
} from "./plain.js";
