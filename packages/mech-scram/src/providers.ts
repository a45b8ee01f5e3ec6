/**
 * The six SCRAM providers and their register functions.
 */
import { PASSWORD, USERNAME, registerMechanism } from "@saslkit/core";
import type { ClientContext, MechanismProvider } from "@saslkit/core";
import { canBind } from "./binding.js";
import { ScramClient, scramName } from "./client.js";
import type { ScramHash } from "./keys.js";
import { resolveScramOptions } from "./options.js";
import { ScramServer } from "./server.js";

/** A tsyringe container, as core's `registerMechanism` takes it (no tsyringe import needed here). */
type Container = Parameters<typeof registerMechanism>[1];

const PRIORITY: Readonly<Record<string, number>> = {
  "SCRAM-SHA-512-PLUS": 960,
  "SCRAM-SHA-256-PLUS": 950,
  "SCRAM-SHA-512": 860,
  "SCRAM-SHA-256": 850,
  "SCRAM-SHA-1-PLUS": 760,
  "SCRAM-SHA-1": 750,
};

function plusUsable(context: ClientContext): string | undefined {
  if (!resolveScramOptions(context.options).channelBinding) return "channel binding is turned off by the caller (options.scram.channelBinding is false)";
  const types = resolveScramOptions(context.options).channelBindingTypes;
  if (!canBind(context.channel.channelBinding, types)) {
    return `the connection offers no channel-binding data (not TLS, or the adapter cannot produce ${types.join(", ") || "any of the types asked for"})`;
  }
  return undefined;
}

function provider(hash: ScramHash, plus: boolean): MechanismProvider {
  const name = scramName(hash, plus);
  return Object.freeze({
    name,
    priority: PRIORITY[name] as number,
    clientFirst: true,
    security: Object.freeze({ sendsSecretInClear: false, mutualAuth: true, channelBinding: plus }),
    needs: Object.freeze([USERNAME, PASSWORD]),
    serverCallbacks: Object.freeze(["lookupScramKeys", "authorize"]),
    ...(plus ? { usable: plusUsable } : {}),
    createClient: (context) => new ScramClient(context, { hash, plus }),
    createServer: (context) => new ScramServer(context, { hash, plus }),
  } satisfies MechanismProvider);
}

/** SCRAM-SHA-1 (RFC 5802), priority 750. */
export const scramSha1: MechanismProvider = provider("SHA-1", false);
/** SCRAM-SHA-1-PLUS (RFC 5802, channel binding), priority 760. */
export const scramSha1Plus: MechanismProvider = provider("SHA-1", true);
/** SCRAM-SHA-256 (RFC 7677), priority 850. */
export const scramSha256: MechanismProvider = provider("SHA-256", false);
/** SCRAM-SHA-256-PLUS (RFC 7677, channel binding), priority 950. */
export const scramSha256Plus: MechanismProvider = provider("SHA-256", true);
/** SCRAM-SHA-512 (draft-melnikov-scram-sha-512), priority 860. */
export const scramSha512: MechanismProvider = provider("SHA-512", false);
/** SCRAM-SHA-512-PLUS, priority 960. */
export const scramSha512Plus: MechanismProvider = provider("SHA-512", true);

/** All six SCRAM providers, strongest first. */
export const scramProviders: readonly MechanismProvider[] = Object.freeze([scramSha512Plus, scramSha256Plus, scramSha512, scramSha256, scramSha1Plus, scramSha1]);

/** Registers SCRAM-SHA-1 and SCRAM-SHA-1-PLUS into `container` (default: tsyringe's root container). */
export function registerScramSha1(container?: Container): void {
  registerMechanism(scramSha1, container);
  registerMechanism(scramSha1Plus, container);
}

/** Registers SCRAM-SHA-256 and SCRAM-SHA-256-PLUS into `container` (default: tsyringe's root container). */
export function registerScramSha256(container?: Container): void {
  registerMechanism(scramSha256, container);
  registerMechanism(scramSha256Plus, container);
}

/** Registers SCRAM-SHA-512 and SCRAM-SHA-512-PLUS into `container` (default: tsyringe's root container). */
export function registerScramSha512(container?: Container): void {
  registerMechanism(scramSha512, container);
  registerMechanism(scramSha512Plus, container);
}

/** Registers all six SCRAM mechanisms into `container` (default: tsyringe's root container). */
export function registerScram(container?: Container): void {
  for (const p of scramProviders) registerMechanism(p, container);
}
