/**
 * IMAP capabilities (RFC 9051 §7.2.2): the atoms of a CAPABILITY response or response code.
 */
import { normalizeMechanismName } from "@saslkit/core";

const MAX_CAPABILITIES = 1024;
const MAX_MECHANISMS = 64;

/** An immutable set of capability atoms, compared case-insensitively. */
export class ImapCapabilities {
  readonly #atoms: ReadonlySet<string>;
  /** SASL mechanisms from `AUTH=X` atoms (and the `AUTH-LOGIN` variant some servers use), upper case, in order. */
  readonly mechanisms: readonly string[];

  /**
   * Linear in the input and bounded: a set, not `Array.includes`, de-duplicates, and at most
   * `MAX_CAPABILITIES` distinct atoms and `MAX_MECHANISMS` SASL names are kept (a hostile server
   * repeating or inventing names gets the rest ignored, not a quadratic parse before TLS).
   */
  constructor(atoms: Iterable<string>) {
    const set = new Set<string>();
    const mechanisms = new Set<string>();
    for (const a of atoms) {
      if (set.size >= MAX_CAPABILITIES) break;
      const upper = a.toUpperCase();
      if (set.has(upper)) continue;
      set.add(upper);
      if (mechanisms.size >= MAX_MECHANISMS || !(upper.startsWith("AUTH=") || upper.startsWith("AUTH-")) || upper.length === 5) continue;
      const name = normalizeMechanismName(upper.slice(5));
      if (name) mechanisms.add(name);
    }
    this.#atoms = set;
    this.mechanisms = [...mechanisms];
  }

  /** Parses the arguments of a `[CAPABILITY ...]` response code or the data of `* CAPABILITY`. */
  static parse(text: string): ImapCapabilities {
    return new ImapCapabilities(text.split(" ").filter((a) => a.length > 0));
  }

  has(name: string): boolean {
    return this.#atoms.has(name.toUpperCase());
  }

  /** `SASL-IR` (RFC 4959): an initial response may go on the AUTHENTICATE line. */
  get saslIr(): boolean {
    return this.has("SASL-IR");
  }

  /** `LOGINDISABLED`: the LOGIN command must not be used. */
  get loginDisabled(): boolean {
    return this.has("LOGINDISABLED");
  }

  get startTls(): boolean {
    return this.has("STARTTLS");
  }

  /** True for an IMAP4rev2 (RFC 9051) server. */
  get rev2(): boolean {
    return this.has("IMAP4REV2");
  }

  list(): string[] {
    return [...this.#atoms];
  }
}
