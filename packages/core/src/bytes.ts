/**
 * Byte helpers every mechanism needs, so none writes them twice.
 * UTF-8 decoding here is strict: invalid sequences raise a `SaslError`, never U+FFFD.
 */
import { timingSafeEqual } from "node:crypto";
import { SaslError, type SaslErrorCode } from "./errors.js";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8 strictly; on invalid bytes throws `SaslError(mechanism, code, "<what> is not valid UTF-8.")`. */
export function decodeUtf8(bytes: Uint8Array, mechanism: string, what: string, code: SaslErrorCode = "invalid-challenge"): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new SaslError(mechanism, code, `${what} is not valid UTF-8.`);
  }
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Constant-time equality; false (without leaking timing about content) when lengths differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Splits on every occurrence of a byte value (a NUL or 0x01 field separator). */
export function splitBytes(bytes: Uint8Array, separator: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === separator) {
      parts.push(bytes.subarray(from, i));
      from = i + 1;
    }
  }
  parts.push(bytes.subarray(from));
  return parts;
}
