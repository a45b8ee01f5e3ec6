/**
 * The DIGEST-MD5 computations of RFC 2831 §2.1.2.1 (qop=auth only). Every input is a binary
 * string (one char per octet) so that what is hashed is exactly what crossed the wire.
 */
import { createHash } from "node:crypto";

const md5 = (data: string | Buffer): Buffer => createHash("md5").update(typeof data === "string" ? Buffer.from(data, "latin1") : data).digest();
const hex = (data: string | Buffer): string => md5(data).toString("hex");

/** Binary string of the UTF-8 encoding of `text`. */
export function utf8Octets(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

/** Binary string of the ISO 8859-1 encoding of `text`, or undefined when a character does not fit. */
export function latin1Octets(text: string): string | undefined {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return undefined;
  return text; // code points <= 0xFF are their own octets
}

/**
 * `H({ username-value, ":", realm-value, ":", passwd })`: the 16-octet secret a server may store
 * instead of the password ("precomputed" in RFC 2831 terms). Inputs are octets.
 */
export function userSecret(username: string, realm: string, password: string): Buffer {
  return md5(`${username}:${realm}:${password}`);
}

/** The inputs of one response-value computation. */
export interface ResponseInputs {
  /** `H({username-value ":" realm-value ":" passwd})`. */
  readonly secret: Buffer;
  readonly nonce: string;
  readonly cnonce: string;
  /** Octets of the authzid, appended to A1 only when present. */
  readonly authzid?: string | undefined;
  /** nc-value, 8 hex digits. */
  readonly nc: string;
  readonly digestUri: string;
}

/**
 * `response-value` (client's proof, A2 = "AUTHENTICATE:" digest-uri) or, with `forServer`, the
 * `rspauth` value (A2 = ":" digest-uri), as 32 lower-case hex digits.
 */
export function responseValue(inputs: ResponseInputs, forServer = false): string {
  const a1Tail = `:${inputs.nonce}:${inputs.cnonce}${inputs.authzid !== undefined && inputs.authzid !== "" ? `:${inputs.authzid}` : ""}`;
  const a1 = Buffer.concat([inputs.secret, Buffer.from(a1Tail, "latin1")]);
  const a2 = `${forServer ? "" : "AUTHENTICATE"}:${inputs.digestUri}`;
  return hex(`${hex(a1)}:${inputs.nonce}:${inputs.nc}:${inputs.cnonce}:auth:${hex(a2)}`);
}
