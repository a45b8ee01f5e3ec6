const STRICT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Strict base64 (RFC 4648 §4): the standard alphabet, padding required, no whitespace, no
 * non-zero pad bits (the encoding must be canonical). Returns undefined when `text` is malformed.
 * The empty string decodes to empty bytes (an empty SASL challenge is legal).
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  if (text === "") return new Uint8Array(0);
  if (!STRICT.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64") !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Standard base64 with padding (RFC 4648 §4). Empty bytes give the empty string. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
