/**
 * POP3 capabilities (RFC 2449 CAPA): each line a capability name and its arguments.
 */
import { normalizeMechanismName } from "@saslkit/core";

export class Pop3Capabilities {
  readonly #caps: ReadonlyMap<string, readonly string[]>;
  /** SASL mechanisms from the `SASL` line, upper case, in the server's order. */
  readonly mechanisms: readonly string[];

  constructor(lines: Iterable<string>) {
    const caps = new Map<string, string[]>();
    for (const line of lines) {
      const [name, ...args] = line.trim().split(/\s+/);
      if (name) caps.set(name.toUpperCase(), args);
    }
    this.#caps = caps;
    const mechanisms: string[] = [];
    for (const a of caps.get("SASL") ?? []) {
      const n = normalizeMechanismName(a);
      if (n && !mechanisms.includes(n)) mechanisms.push(n);
    }
    this.mechanisms = mechanisms;
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
