/**
 * The secrets one transport has seen (passwords, AUTH payloads), and their masking in every text
 * the package lets out: log lines, error messages, server replies in errors.
 */
import { Redactor } from "@saslkit/transport";

/** The base64 characters that carry only `bytes` when they start at byte offset ≡ k (mod 3) of a longer text. */
function base64Aligned(bytes: Buffer, k: 0 | 1 | 2): string {
  const padded = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64").replace(/=+$/, "");
  return padded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
}

export class Secrets {
  readonly #redactor = new Redactor();

  /** A password or token: the raw value and its base64 at every alignment (found inside a PLAIN payload too). */
  addSecret(secret: string): void {
    const bytes = Buffer.from(secret, "utf8");
    this.#redactor.add(secret);
    for (const k of [0, 1, 2] as const) this.#redactor.add(base64Aligned(bytes, k));
  }

  /** The exact base64 text of a message sent during authentication. */
  addPayload(base64: string): void {
    this.#redactor.add(base64);
  }

  scrub(text: string): string {
    return this.#redactor.scrub(text);
  }
}
