/**
 * Shared pieces of the hardening suite (issue 6): how many fast-check runs a property gets, which
 * errors count as "the project's typed errors", and the secret forms the leak tests search for.
 *
 * `FUZZ_RUNS` (read here) scales every property: the default run stays fast, `node scripts/fuzz.mjs`
 * sets it high for the long campaign.
 */
import { appendFileSync } from "node:fs";
import { SaslError } from "@saslkit/core";
import { TransportError } from "@saslkit/transport";
import { ImapError } from "@saslkit/imap";
import { ImapParseError } from "../../packages/imap/src/parser.js";
import { Pop3Error } from "@saslkit/pop3";
import { SmtpError } from "@saslkit/smtp";
import { MalformedReplyError } from "./smtp.js";

/** Runs for one property: `FUZZ_RUNS` when set, else `base` (a few hundred keeps the suite < 20 s). */
export function fuzzRuns(base: number): number {
  const env = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? Math.max(1, Math.round((env * base) / 300)) : base;
}

/** fast-check parameters shared by every property: bounded runs, a per-run timeout (a hang fails). */
export function fcParams(base: number, timeoutMs = 2000): { numRuns: number; timeout: number; endOnFailure: true } {
  const numRuns = fuzzRuns(base);
  // scripts/fuzz.mjs sums these to report the campaign's case count (a green property ran all of them).
  if (process.env.FUZZ_COUNT_FILE) appendFileSync(process.env.FUZZ_COUNT_FILE, `${numRuns}\n`);
  return { numRuns, timeout: timeoutMs, endOnFailure: true };
}

/** Names of the project's error classes that are not importable yet (adapters still landing). */
const TYPED_NAMES = new Set(["SaslError", "NoMechanismError", "TransportError", "SmtpError", "ImapError", "ImapParseError", "Pop3Error", "MalformedReplyError"]);

/** True for an error of the project's closed taxonomy (and false for TypeError, RangeError, ...). */
export function isTypedError(error: unknown): boolean {
  if (error instanceof SaslError || error instanceof TransportError || error instanceof ImapError || error instanceof ImapParseError || error instanceof Pop3Error) return true;
  if (error instanceof SmtpError || error instanceof MalformedReplyError) return true;
  return error instanceof Error && TYPED_NAMES.has(error.name) && error.constructor !== Error && error.constructor !== TypeError && error.constructor !== RangeError;
}

/** Calls `fn`; rethrows anything that is not a typed error, so fast-check reports it. */
export async function onlyTypedErrors<T>(fn: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (error) {
    if (isTypedError(error)) return undefined;
    throw error;
  }
}

export function onlyTypedErrorsSync<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (isTypedError(error)) return undefined;
    throw error;
  }
}
