/**
 * What the logger of one transport masks, kept bounded however long the transport lives: the
 * transport's own password for good, each login's secrets (a per-message password, every AUTH
 * payload, SCRAM's nonces among them) while that login runs, and the passwords of the last
 * `RECENT_PASSWORDS` logins after it (the hook does not see its connection end, and the server
 * may repeat a per-message password in a later reply, a MAIL FROM refusal). A pooled transport logs
 * in again and again; one redactor that kept every payload would grow, and slow every log line,
 * without end. Errors keep their login's redactor, so they stay masked after it ends.
 */
import { Redactor } from "@saslkit/transport";

/** How many logins' passwords stay masked after their login (oldest forgotten first). */
export const RECENT_PASSWORDS = 16;

export class Masking {
  readonly #lasting = new Redactor();
  readonly #lastingSecrets = new Set<string>();
  readonly #active = new Set<Redactor>();
  /** Recent passwords, oldest first, and one redactor for them all (rebuilt when they change, so longer forms mask first). */
  readonly #recent: string[] = [];
  #recentRedactor: Redactor | undefined;

  /** A secret masked for the transport's whole life (the password in its options). */
  addLasting(secret: string): void {
    this.#lastingSecrets.add(secret);
    this.#lasting.addSecret(secret);
    this.#recentRedactor = undefined;
  }

  /** A login's password, masked after the login too until `RECENT_PASSWORDS` newer ones replace it. */
  addRecent(secret: string): void {
    if (!secret || this.#lastingSecrets.has(secret)) return;
    const at = this.#recent.indexOf(secret);
    if (at === this.#recent.length - 1 && at >= 0) return;
    if (at >= 0) this.#recent.splice(at, 1);
    else this.#recentRedactor = undefined;
    this.#recent.push(secret);
    if (this.#recent.length > RECENT_PASSWORDS) this.#recent.shift();
  }

  /** Passwords kept by `addRecent` (for tests). */
  get recent(): number {
    return this.#recent.length;
  }

  /**
   * A redactor for one login, applied to log lines until `end`. It holds the lasting secrets too:
   * one redactor masks its longest forms first, so a login's password that begins the transport's
   * (or the reverse) cannot mask a part of the other and leave its tail readable.
   */
  begin(): Redactor {
    const redactor = new Redactor();
    for (const secret of this.#lastingSecrets) redactor.addSecret(secret);
    this.#active.add(redactor);
    return redactor;
  }

  end(redactor: Redactor): void {
    this.#active.delete(redactor);
  }

  /** Logins in progress (for tests). */
  get active(): number {
    return this.#active.size;
  }

  redact(text: string): string {
    // Logins first: a whole payload is masked before the password's base64 inside it.
    let out = text;
    for (const r of this.#active) out = r.redact(out);
    if (this.#recent.length) {
      if (!this.#recentRedactor) {
        // With the lasting secrets, for the same reason as a login's redactor (see `begin`).
        this.#recentRedactor = new Redactor();
        for (const secret of this.#lastingSecrets) this.#recentRedactor.addSecret(secret);
        for (const secret of this.#recent) this.#recentRedactor.addSecret(secret);
      }
      out = this.#recentRedactor.redact(out);
    }
    return this.#lasting.redact(out);
  }
}
