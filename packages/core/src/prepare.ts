/**
 * Credential preparation, written once for every mechanism and protocol login: SASLprep
 * (RFC 4013, a profile of stringprep) through `@mongodb-js/saslprep`. It is generic RFC 4013,
 * not a mechanism family: mechanisms whose RFC requires it call `saslprep` always; password
 * mechanisms that leave it open, and the protocol logins (IMAP LOGIN, POP3 USER/PASS and APOP),
 * apply it only when the caller opts in with `prepare: "saslprep"`, for servers that store
 * prepared credentials (RFC 4616 §2 recommends preparing on both sides). Off by default: most servers store passwords as given, and would
 * then refuse one that preparation changed (U+00A0 becomes a space, U+00AD disappears).
 * See docs/decisions/0009-saslprep-opt-in.md.
 */
import saslprepLib from "@mongodb-js/saslprep";
import { SaslError, type SaslErrorCode } from "./errors.js";

/** How credentials are prepared before use: as given (`"none"`, the default) or SASLprep'd. */
export type CredentialPreparation = "none" | "saslprep";

/** How SASLprep refused a string, without the string. */
function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : "";
  if (text.startsWith("Prohibited")) return "it contains a prohibited character (RFC 4013 §2.3)";
  if (text.startsWith("Unassigned")) return "it contains an unassigned code point (RFC 4013 §2.5)";
  if (/RandALCat/.test(text)) return "it fails the bidirectional check (RFC 3454 §6)";
  return "it is empty after preparation";
}

export interface SaslprepOptions {
  /** Stored-string rules: unassigned code points are refused (RFC 4013 §2.5). Default: query rules, as a client should. */
  readonly stored?: boolean;
  /** The code of the error thrown; default `invalid-credentials-input` (a server half uses `invalid-response`). */
  readonly code?: SaslErrorCode;
}

/**
 * SASLprep `value`. A refusal, or a non-empty value that prepares to nothing, throws
 * `SaslError(mechanism, code, "<what> is not allowed by SASLprep: <why>.")`, naming only `what`
 * ("the password") and never the value.
 */
export function saslprep(value: string, what: string, mechanism: string | undefined, options: SaslprepOptions = {}): string {
  const code = options.code ?? "invalid-credentials-input";
  let out: string;
  try {
    out = value === "" ? "" : saslprepLib(value, { allowUnassigned: options.stored !== true });
  } catch (error) {
    // The library's errors hold no input, but the message is ours alone anyway.
    throw new SaslError(mechanism, code, `${what} is not allowed by SASLprep: ${reason(error)}.`);
  }
  if (out === "" && value !== "") throw new SaslError(mechanism, code, `${what} is empty after SASLprep.`);
  return out;
}

/**
 * Applies `preparation` to a credential: unchanged for `"none"` or undefined, `saslprep` for
 * `"saslprep"`. What mechanisms and adapters call for user names and passwords.
 */
export function prepareCredential(value: string, preparation: CredentialPreparation | undefined, what: string, mechanism?: string): string {
  return preparation === "saslprep" ? saslprep(value, what, mechanism) : value;
}
