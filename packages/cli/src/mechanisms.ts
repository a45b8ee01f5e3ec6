/**
 * Every mechanism package the CLI ships with, collected by package name. Each package is
 * imported as a whole and every exported `MechanismProvider` (or list of them) is taken, so the
 * CLI needs no change when a package adds a variant.
 */
import type { MechanismProvider } from "@saslkit/core";

function isProvider(value: unknown): value is MechanismProvider {
  const v = value as Partial<MechanismProvider> | null;
  return typeof v === "object" && v !== null && typeof v.name === "string" && typeof v.priority === "number" && typeof v.createClient === "function";
}

/** Providers exported by the mechanism packages, highest priority first, one per name. */
export async function installedProviders(): Promise<MechanismProvider[]> {
  const modules: Record<string, unknown>[] = await Promise.all([
    import("@saslkit/mech-scram"),
    import("@saslkit/mech-oauth"),
    import("@saslkit/mech-digest-md5"),
    import("@saslkit/mech-cram-md5"),
    import("@saslkit/mech-plain"),
    import("@saslkit/mech-login"),
    import("@saslkit/mech-external"),
    import("@saslkit/mech-anonymous"),
  ]);
  const byName = new Map<string, MechanismProvider>();
  for (const mod of modules) {
    for (const value of Object.values(mod)) {
      for (const candidate of Array.isArray(value) ? value : [value]) {
        if (isProvider(candidate) && !byName.has(candidate.name)) byName.set(candidate.name, candidate);
      }
    }
  }
  return [...byName.values()].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1));
}
