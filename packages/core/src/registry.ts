/**
 * The mechanism registry: providers registered through tsyringe, resolved under one token.
 *
 * Three ways to fill it, all equivalent to negotiation:
 * - `new MechanismRegistry([plain, cramMd5])` or a plain list given to an adapter: no DI at all,
 *   no `reflect-metadata`, no decorator settings, no global side effect;
 * - `registerPlain()` (each package's register function) into tsyringe's root container, then
 *   `MechanismRegistry.fromContainer()`: the "one line per package" default;
 * - `registerPlain(child)` into `container.createChildContainer()` for per-connection sets and
 *   third-party mechanisms, then `MechanismRegistry.fromContainer(child)` or
 *   `child.resolve(MechanismRegistry)`.
 *
 * A container's set is what was registered in that container, never its ancestors' (an empty
 * child container is an empty set): docs/decisions/0004-di-without-ceremony.md.
 *
 * Core imports tsyringe only when the root container is actually used (a register function
 * called without a container, or no mechanism source given), and loads the Reflect polyfill
 * tsyringe needs right before it. Nothing here uses decorators.
 */
import { createRequire } from "node:module";
import type { DependencyContainer, InjectionToken } from "tsyringe";
import type { MechanismProvider } from "./mechanism.js";

/** The one token every mechanism provider is registered under. `Symbol.for`, so two loaded copies agree. */
export const SASL_MECHANISM: InjectionToken<MechanismProvider> = Symbol.for("saslkit:mechanism");

let root: DependencyContainer | undefined;

/** tsyringe's root container, loaded on first use (with the Reflect polyfill it requires). */
function rootContainer(): DependencyContainer {
  if (!root) {
    const require = createRequire(import.meta.url);
    require("reflect-metadata");
    root = (require("tsyringe") as typeof import("tsyringe")).container;
  }
  return root;
}

/**
 * Registers a provider (never an instance) into `container` (default: tsyringe's root container).
 * Also makes `container.resolve(MechanismRegistry)` answer with that container's registry.
 */
export function registerMechanism(provider: MechanismProvider, container: DependencyContainer = rootContainer()): void {
  container.register(SASL_MECHANISM, { useValue: provider });
  if (!container.isRegistered(MechanismRegistry, false)) {
    container.register(MechanismRegistry, { useFactory: (resolving) => MechanismRegistry.fromContainer(resolving) });
  }
}

/** Where an adapter may take its mechanisms from. */
export type MechanismSource = MechanismRegistry | DependencyContainer | readonly MechanismProvider[];

const NAME = /^[A-Z0-9_-]{1,20}$/;

/**
 * Normalises a mechanism name; returns undefined for a token that cannot be a SASL name (RFC 4422 §3.1).
 * A name already normalised (what servers send) is returned as is after one regex test: in a
 * fresh process, before the optimiser, a native regex match costs a fifth of a JavaScript loop
 * over the characters, and this runs for every offered name of every connection.
 */
export function normalizeMechanismName(name: string): string | undefined {
  if (NAME.test(name)) return name;
  const upper = name.trim().toUpperCase();
  return NAME.test(upper) ? upper : undefined;
}

export class MechanismRegistry {
  readonly #byName = new Map<string, MechanismProvider>();
  /** `list()`, computed once: the providers never change after construction. */
  #sorted: readonly MechanismProvider[] | undefined;
  #names: readonly string[] | undefined;

  constructor(providers: readonly MechanismProvider[] = []) {
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

  /**
   * The registry of a container (default: tsyringe's root): the providers registered in that
   * container itself, empty when none were (ancestors are not consulted).
   */
  static fromContainer(container: DependencyContainer = rootContainer()): MechanismRegistry {
    return new MechanismRegistry(container.isRegistered(SASL_MECHANISM, false) ? container.resolveAll(SASL_MECHANISM) : []);
  }

  /** Accepts any `MechanismSource`; undefined means the root container. */
  static from(source?: MechanismSource): MechanismRegistry {
    if (source === undefined) return MechanismRegistry.fromContainer();
    if (source instanceof MechanismRegistry) return source;
    if (Array.isArray(source)) return new MechanismRegistry(source as readonly MechanismProvider[]);
    return MechanismRegistry.fromContainer(source as DependencyContainer);
  }

  get(name: string): MechanismProvider | undefined {
    // Keys are normalised names: a name already normalised (negotiation's) is found at once.
    const found = this.#byName.get(name);
    if (found !== undefined) return found;
    const n = normalizeMechanismName(name);
    return n === undefined || n === name ? undefined : this.#byName.get(n);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Providers, highest priority first (ties by name, so the order never depends on registration). */
  list(): MechanismProvider[] {
    this.#sorted ??= [...this.#byName.values()].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...this.#sorted];
  }

  names(): string[] {
    this.#names ??= this.list().map((p) => p.name);
    return [...this.#names];
  }
}
