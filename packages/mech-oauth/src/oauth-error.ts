/**
 * The OAuth error a server sends inside the exchange (RFC 7628 §3.2.2), in the JSON format that
 * OAUTHBEARER and XOAUTH2 share: `{"status":"invalid_token","scope":"...","openid-configuration":"..."}`.
 * Both directions live here: the client decodes it into a `failureDetail`, the server half encodes
 * a `TokenVerdict`. Internal to this package; it knows no protocol.
 */
import { Buffer } from "node:buffer";
import { utf8 } from "@saslkit/core";
import type { TokenVerdict } from "./credentials.js";

/** The detail recorded when the server's error challenge is not a JSON object with a status. */
export const MALFORMED_DETAIL: Readonly<Record<string, unknown>> = Object.freeze({ status: "malformed" });

const MAX_KEYS = 32;
const MIN_SCRUB = 8;
/** Longest member name and text value kept, in UTF-16 units (a byte bound for the ASCII that survives). */
const MAX_NAME = 64;
const MAX_TEXT = 256;

/** Server text is shown to users and logged: printable ASCII only, bounded. */
function printable(text: string, max: number): string {
  return text.slice(0, max).replace(/[^\x20-\x7e]/g, "?");
}
const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes the server's error challenge into a flat record of its scalar members (status, scope,
 * schemes, openid-configuration, ...). Never throws: anything that is not a JSON object with a
 * string or numeric `status` gives `{ status: "malformed" }`, because the client must still send
 * its abort so the server can finish. At most 32 members are kept, `status` first; a member whose
 * name or value (a number read as its text) contains `secret` or its base64, base64url or hex
 * (either case) form (a server echoing the token) is dropped, and such a status gives
 * `{ status: "malformed" }`. Names and texts kept are
 * cut to 64 and 256 characters, anything outside printable ASCII replaced by `?`.
 */
export function decodeOAuthError(challenge: Uint8Array, secret: string | undefined): Readonly<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(strict.decode(challenge));
  } catch {
    return MALFORMED_DETAIL;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return MALFORMED_DETAIL;
  const source = parsed as Record<string, unknown>;
  const status = source["status"];
  if (typeof status !== "string" && typeof status !== "number") return MALFORMED_DETAIL;
  // Short strings would match innocent words ("tok" in "invalid_token"); real tokens are long.
  const hex = secret ? Buffer.from(secret).toString("hex") : "";
  const forms = secret && secret.length >= MIN_SCRUB ? [secret, ...(["base64", "base64url"] as const).map((e) => Buffer.from(secret).toString(e)), hex, hex.toUpperCase()] : [];
  // status is the server's code word (RFC 7628 §3.2.2) and always kept; the rest is capped and scrubbed.
  const echoes = (text: string): boolean => forms.some((f) => text.includes(f));
  // A number is checked as its text: a token of digits (a b64token too) may come back as one.
  if (echoes(String(status))) return MALFORMED_DETAIL;
  const detail: Record<string, unknown> = { status: printable(String(status), MAX_TEXT) };
  let kept = 1;
  for (const [key, value] of Object.entries(source)) {
    if (kept >= MAX_KEYS) break;
    if (key === "status" || key === "__proto__" || echoes(key)) continue;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") continue;
    if (typeof value !== "boolean" && echoes(String(value))) continue;
    const name = printable(key, MAX_NAME);
    if (name === "__proto__" || name === "status") continue;
    detail[name] = typeof value === "string" ? printable(value, MAX_TEXT) : value;
    kept++;
  }
  return detail;
}

/** True when the status says the token itself was refused, so a fresh one may succeed. */
export function isTokenRefusal(detail: Readonly<Record<string, unknown>>): boolean {
  const status = detail["status"];
  return status === "invalid_token" || status === "401";
}

/** Encodes a refused verdict as the JSON error challenge, members in RFC 7628 §4.3/§4.4 order. */
export function encodeOAuthError(verdict: Extract<TokenVerdict, { valid: false }>, openidConfiguration?: string): Uint8Array {
  const body: Record<string, string> = { status: verdict.status };
  if (verdict.schemes !== undefined) body["schemes"] = verdict.schemes;
  if (verdict.scope !== undefined) body["scope"] = verdict.scope;
  if (openidConfiguration !== undefined) body["openid-configuration"] = openidConfiguration;
  return utf8(JSON.stringify(body));
}

/** RFC 6750 §2.1 b64token: the only characters a bearer token may hold. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
