/**
 * The fallback policy: when may an adapter try the next candidate mechanism?
 *
 * Only after a mechanism-level failure: the server does not support or will not use this
 * mechanism (SMTP 504, IMAP BAD/NO on the mechanism), or the client could not parse the server's
 * challenge. Never after the server refused the credentials (535: trying again burns the
 * server's failure budget and only guesses the same password), a temporary failure (454), a
 * server that failed mutual authentication (that is an attack or a misconfiguration, and a weaker
 * mechanism would hand the password to it), an abort, or a policy refusal.
 *
 * Two narrower rules (issue 13 items 4 and 8, docs/decisions/0008-fallback-after-secret.md):
 * - a mechanism whose first message carried the secret (`security.secretInFirstMessage`) ends
 *   the attempt on any failure once that message went out (`SaslError.secretSent`): the secret is
 *   never sent a second time, by another mechanism or by a protocol login; likewise once a later
 *   message carried the secret or a proof of it (`SaslMechanism.secretUsed`: LOGIN's password,
 *   the CRAM-MD5 and DIGEST-MD5 responses, SCRAM's client-final);
 * - "mechanism too weak" (SMTP 534) allows only a mechanism at least as strong (priority
 *   greater than or equal) that is still offered: `allowsFallbackTo`;
 * - a failed channel-bound mechanism (`security.channelBinding`, the -PLUS variants) allows only
 *   another channel-bound one: binding is what defeats a man in the middle, and one that garbles
 *   or refuses the -PLUS exchange would otherwise get the unbound exchange (with GS2 flag `n`,
 *   since -PLUS was offered) that it can relay. A server whose -PLUS is broken is handled by
 *   turning binding off (`options.scram.channelBinding: false`), never silently.
 */
import { SaslError, type SaslErrorCode } from "./errors.js";
import type { MechanismProvider } from "./mechanism.js";

const MECHANISM_LEVEL: ReadonlySet<SaslErrorCode> = new Set(["mechanism-rejected", "mechanism-too-weak", "invalid-challenge"]);

/**
 * True when `error` allows trying another mechanism (or, for adapters, a protocol login). False
 * once the secret went out in the first message.
 */
export function allowsFallback(error: unknown): boolean {
  return error instanceof SaslError && !error.secretSent && MECHANISM_LEVEL.has(error.code);
}

type Candidate = Pick<MechanismProvider, "priority"> & Partial<Pick<MechanismProvider, "security">>;

/** True when, after `error` on `failed`, the candidate `next` may be tried (see the module comment). */
export function allowsFallbackTo(error: unknown, failed: Candidate, next: Candidate): boolean {
  if (!allowsFallback(error)) return false;
  if (failed.security?.channelBinding === true && next.security?.channelBinding !== true) return false;
  return (error as SaslError).code !== "mechanism-too-weak" || next.priority >= failed.priority;
}
