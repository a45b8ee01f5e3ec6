/**
 * POP3 capabilities (RFC 2449 CAPA): each line a capability name and its arguments.
 */
import { normalizeMechanismName } from "@saslkit/core";

const MAX_CAPABILITIES = 256;
const MAX_ARGUMENTS = 256;
const MAX_MECHANISMS = 64;

export class Pop3Capabilities {
  readonly #caps: ReadonlyMap<string, readonly string[]>;
  /** SASL mechanisms from the `SASL` line, upper case, in the server's order. */
  readonly mechanisms: readonly string[];

  /**
   * Linear in the input and bounded (Go's net/textproto keeps extensions in a map the same way):
   * at most `MAX_CAPABILITIES` names, `MAX_ARGUMENTS` arguments per name and `MAX_MECHANISMS`
   * SASL names are kept; a hostile CAPA with more is read but the rest ignored.
   */
  constructor(lines: Iterable<string>) {
    const caps = new Map<string, string[]>();
    for (const line of lines) {
      const [name, ...args] = line.trim().split(/\s+/, MAX_ARGUMENTS + 1);
      if (!name) continue;
      const upper = name.toUpperCase();
      if (caps.size >= MAX_CAPABILITIES && !caps.has(upper)) continue;
      caps.set(upper, args);
    }
    this.#caps = caps;
    const mechanisms = new Set<string>();
    for (const a of caps.get("SASL") ?? []) {
      if (mechanisms.size >= MAX_MECHANISMS) break;
      const n = normalizeMechanismName(a);
      if (n) mechanisms.add(n);
    }
    this.mechanisms = [...mechanisms];
  }

  has(name: string): boolean {
    return this.#caps.has(name.toUpperCase());
  }

  /** Arguments of a capability (`IMPLEMENTATION`, `EXPIRE`), undefined when absent. */
  args(name: string): readonly string[] | undefined {
    return this.#caps.get(name.toUpperCase());
  }

  get stls(): boolean {
    return this.has("STLS");
  }

  get user(): boolean {
    return this.has("USER");
  }

  list(): string[] {
    return [...this.#caps.keys()];
  }
}
