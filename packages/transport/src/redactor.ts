/**
 * A set of secrets an adapter has sent (base64 AUTH payloads, LOGIN/PASS passwords), and the
 * replacement of each by `****` in server text. A server that echoes what it received must not
 * leak a credential into a transcript or an error message. Secrets shorter than 4 characters
 * are not tracked: they would mask innocent words and carry little.
 */
export class Redactor {
  readonly #secrets = new Set<string>();

  add(secret: string): void {
    if (secret.length >= 4) this.#secrets.add(secret);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join("****");
    return out;
  }

  get size(): number {
    return this.#secrets.size;
  }
}
