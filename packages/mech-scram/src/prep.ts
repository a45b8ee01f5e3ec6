/**
 * SASLprep (RFC 4013) through @mongodb-js/saslprep, with errors that never repeat the input.
 */
import saslprepLib from "@mongodb-js/saslprep";
import { SaslError } from "@saslkit/core";

/** How SASLprep refused a string, without the string. */
function reason(error: unknown): string {
  const text = error instanceof Error ? error.message : "";
  if (text.startsWith("Prohibited")) return "it contains a prohibited character (RFC 4013 §2.3)";
  if (text.startsWith("Unassigned")) return "it contains an unassigned code point (RFC 4013 §2.5)";
  if (/RandALCat/.test(text)) return "it fails the bidirectional check (RFC 3454 §6)";
  return "it is empty after preparation";
}

/**
 * SASLprep as RFC 5802 asks. `stored` refuses unassigned code points (stored strings, RFC 4013
 * §2.5); the default treats the value as a query string, as a client should. Throws
 * `SaslError(mechanism, code, ...)` naming only `what` ("the user name", "the password").
 */
export function saslprepOrThrow(
  value: string,
  what: string,
  mechanism: string | undefined,
  code: "invalid-credentials-input" | "invalid-response" = "invalid-credentials-input",
  stored = false,
): string {
  let out: string;
  try {
    out = value === "" ? "" : saslprepLib(value, { allowUnassigned: !stored });
  } catch (error) {
    // The library's errors hold no input, but keep them out anyway: the message is ours alone.
    void error;
    throw new SaslError(mechanism, code, `${what} is not allowed by SASLprep: ${reason(error)}.`);
  }
  if (out === "") throw new SaslError(mechanism, code, `${what} is empty after SASLprep.`);
  return out;
}

/**
 * Prepares a password for `deriveScramKeys` exactly as saslkit's client prepares it (SASLprep,
 * RFC 4013), so the stored keys match. `stored: true` also refuses unassigned code points.
 * Throws `SaslError("invalid-credentials-input")` without echoing the password.
 */
export function prepareScramPassword(password: string, options: { readonly stored?: boolean } = {}): string {
  return saslprepOrThrow(password, "the password", undefined, "invalid-credentials-input", options.stored ?? false);
}
