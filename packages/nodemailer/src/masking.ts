/**
 * What the logger of one transport masks, kept bounded however long the transport lives: the
 * transport's own password for good, and each login's secrets (a per-message password, every
 * AUTH payload, SCRAM's nonces among them) only while that login runs. A pooled transport logs
 * in again and again; one redactor that kept every payload would grow, and slow every log line,
 * without end. Errors keep their login's redactor, so they stay masked after it ends.
 */
import { Redactor } from "@saslkit/transport";

export class Masking {
  readonly #lasting = new Redactor();
  readonly #active = new Set<Redactor>();

  /** A secret masked for the transport's whole life (the password in its options). */
  addLasting(secret: string): void {
    this.#lasting.addSecret(secret);
  }

  /** A redactor for one login, applied to log lines until `end`. */
  begin(): Redactor {
    const redactor = new Redactor();
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
    return this.#lasting.redact(out);
  }
}
