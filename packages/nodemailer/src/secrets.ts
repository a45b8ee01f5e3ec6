/**
 * The secrets one transport has seen (passwords, AUTH payloads), and their masking in every text
 * the package lets out: log lines, error messages, server replies in errors.
 */
/** The base64 characters that carry only `bytes` when they start at byte offset ≡ k (mod 3) of a longer text. */
function base64Aligned(bytes: Buffer, k: 0 | 1 | 2): string {
  const padded = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64").replace(/=+$/, "");
  return padded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
}

const MIN_LENGTH = 4;

export class Secrets {
  readonly #values = new Set<string>();
  /** Longest first, so a payload is masked whole before a secret's base64 inside it. */
  #ordered: string[] | undefined;

  #add(value: string): void {
    if (value.length < MIN_LENGTH || this.#values.has(value)) return;
    this.#values.add(value);
    this.#ordered = undefined;
  }

  /** A password or token: the raw value and its base64 at every alignment (found inside a PLAIN payload too). */
  addSecret(secret: string): void {
    const bytes = Buffer.from(secret, "utf8");
    this.#add(secret);
    for (const k of [0, 1, 2] as const) this.#add(base64Aligned(bytes, k));
  }

  /** The exact base64 text of a message sent during authentication. */
  addPayload(base64: string): void {
    this.#add(base64);
  }

  scrub(text: string): string {
    this.#ordered ??= [...this.#values].sort((a, b) => b.length - a.length);
    let out = text;
    for (const v of this.#ordered) if (out.includes(v)) out = out.split(v).join("****");
    return out;
  }
}
