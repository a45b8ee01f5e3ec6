/**
 * SASLprep (RFC 4013) as SCRAM requires it, through core's one implementation; errors never
 * repeat the input.
 */
import { SaslError, saslprep } from "@saslkit/core";

/**
 * SASLprep as RFC 5802 asks. `stored` refuses unassigned code points (stored strings, RFC 4013
 * §2.5); the default treats the value as a query string, as a client should. Throws
 * `SaslError(mechanism, code, ...)` naming only `what` ("the user name", "the password"); an
 * empty result is refused too (SCRAM needs a name and a password).
 */
export function saslprepOrThrow(
  value: string,
  what: string,
  mechanism: string | undefined,
  code: "invalid-credentials-input" | "invalid-response" = "invalid-credentials-input",
  stored = false,
): string {
  const out = saslprep(value, what, mechanism, { code, stored });
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
