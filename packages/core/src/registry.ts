/**
 * The mechanism registry: providers registered through tsyringe, resolved under one token.
 *
 * Three ways to fill it, all equivalent to negotiation:
 * - `new MechanismRegistry([plain, cramMd5])`: a plain list, no DI in sight;
 * - `registerPlain()` (each package's register function) into tsyringe's root container, then
 *   `MechanismRegistry.fromContainer()`: the "one line per package" default;
 * - `registerPlain(child)` into `container.createChildContainer()` for per-connection sets and
 *   third-party mechanisms, then `child.resolve(MechanismRegistry)`.
 * See docs/decisions/0001-providers-and-tokens.md.
 */
// tsyringe needs the Reflect metadata polyfill loaded before it is evaluated; core loads it so
// users never have to know (ESM evaluates imports in order).
import "reflect-metadata";
import { container as rootContainer, injectAll, injectable, type DependencyContainer, type InjectionToken } from "tsyringe";
import type { MechanismProvider } from "./mechanism.js";

/** The one token every mechanism provider is registered under. `Symbol.for`, so two loaded copies agree. */
export const SASL_MECHANISM: InjectionToken<MechanismProvider> = Symbol.for("saslkit:mechanism");

/** Registers a provider (never an instance) into `container` (default: tsyringe's root container). */
export function registerMechanism(provider: MechanismProvider, container: DependencyContainer = rootContainer): void {
  container.register(SASL_MECHANISM, { useValue: provider });
}

/** Where an adapter may take its mechanisms from. */
export type MechanismSource = MechanismRegistry | DependencyContainer | readonly MechanismProvider[];

const NAME = /^[A-Z0-9_-]{1,20}$/;

/** Normalises a mechanism name; returns undefined for a token that cannot be a SASL name (RFC 4422 §3.1). */
export function normalizeMechanismName(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  return NAME.test(upper) ? upper : undefined;
}

@injectable()
export class MechanismRegistry {
  readonly #byName = new Map<string, MechanismProvider>();

  constructor(@injectAll(SASL_MECHANISM, { isOptional: true }) providers: readonly MechanismProvider[] = []) {
    for (const p of providers) {
      const name = normalizeMechanismName(p.name);
      if (!name || name !== p.name) throw new TypeError(`Mechanism name "${p.name}" is not an upper-case SASL name (RFC 4422 §3.1).`);
      const existing = this.#byName.get(name);
      if (existing && existing !== p) {
        throw new TypeError(`Two different providers are registered for ${name}; register one, or use a child container to replace it.`);
      }
      this.#byName.set(name, p);
    }
  }

  /** The registry of a container (default: tsyringe's root), empty when nothing is registered. */
  static fromContainer(container: DependencyContainer = rootContainer): MechanismRegistry {
    return new MechanismRegistry(container.isRegistered(SASL_MECHANISM, true) ? container.resolveAll(SASL_MECHANISM) : []);
  }

  /** Accepts any `MechanismSource`; undefined means the root container. */
  static from(source?: MechanismSource): MechanismRegistry {
    if (source === undefined) return MechanismRegistry.fromContainer();
    if (source instanceof MechanismRegistry) return source;
    if (Array.isArray(source)) return new MechanismRegistry(source as readonly MechanismProvider[]);
    return MechanismRegistry.fromContainer(source as DependencyContainer);
  }

  get(name: string): MechanismProvider | undefined {
    const n = normalizeMechanismName(name);
    return n === undefined ? undefined : this.#byName.get(n);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Providers, highest priority first (ties by name, so the order never depends on registration). */
  list(): MechanismProvider[] {
    return [...this.#byName.values()].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  names(): string[] {
    return this.list().map((p) => p.name);
  }
}
