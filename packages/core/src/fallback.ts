/**
 * The fallback policy: when may an adapter try the next candidate mechanism?
 *
 * Only after a mechanism-level failure: the server does not support or will not use this
 * mechanism (SMTP 504/534, IMAP BAD/NO on the mechanism), or the client could not parse the
 * server's challenge. Never after the server refused the credentials (535: trying again burns the
 * server's failure budget and only guesses the same password), a temporary failure (454), a
 * server that failed mutual authentication (that is an attack or a misconfiguration, and a weaker
 * mechanism would hand the password to it), an abort, or a policy refusal.
 */
import { SaslError, type SaslErrorCode } from "./errors.js";

const MECHANISM_LEVEL: ReadonlySet<SaslErrorCode> = new Set(["mechanism-rejected", "invalid-challenge"]);

/** True when `error` allows trying the next candidate mechanism. */
export function allowsFallback(error: unknown): boolean {
  return error instanceof SaslError && MECHANISM_LEVEL.has(error.code);
}
