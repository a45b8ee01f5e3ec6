/**
 * @saslkit/mech-scram: SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512 and their -PLUS variants
 * (RFC 5802, RFC 7677), client and server halves, with SASLprep, async PBKDF2, a key cache,
 * iteration limits and RFC 5056 channel binding (tls-exporter, tls-server-end-point, tls-unique).
 */
export { ScramClient, type ScramParams } from "./client.js";
export { ScramServer, type ScramFailureReason, type ScramServerError } from "./server.js";
export {
  registerScram,
  registerScramSha1,
  registerScramSha256,
  registerScramSha512,
  scramProviders,
  scramSha1,
  scramSha1Plus,
  scramSha256,
  scramSha256Plus,
  scramSha512,
  scramSha512Plus,
} from "./providers.js";
export {
  LruScramKeyCache,
  defaultScramKeyCache,
  deriveScramKeys,
  setPbkdf2Concurrency,
  type DeriveScramKeysOptions,
  type ScramClientKeys,
  type ScramHash,
  type ScramKeyCache,
} from "./keys.js";
export type { ScramContextOptions, ScramOptions } from "./options.js";
export { prepareScramPassword } from "./prep.js";
export type { ScramStoredKeys } from "./stored-keys.js";
