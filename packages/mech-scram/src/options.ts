/**
 * The caller's SCRAM options, read from `context.options.scram` (client and server).
 */
import type { ChannelBindingType } from "@saslkit/core";
import type { ScramKeyCache } from "./keys.js";
import { defaultScramKeyCache } from "./keys.js";

/** Options under `options.scram` (client and server contexts). */
export interface ScramOptions {
  /**
   * Use channel binding when the channel can supply it. Default true. `false` makes every -PLUS
   * provider unusable and the client always sends GS2 flag `n` (an opt-out for servers whose
   * -PLUS is broken, mox#374). On a server, `false` means "this server does not bind".
   * A type name (`"tls-server-end-point"`, ...) binds with exactly that type: a client whose
   * connection cannot produce it treats -PLUS as unusable instead of using another type.
   */
  readonly channelBinding?: boolean | ChannelBindingType;
  /** Highest iteration count a client accepts from a server. Default 100000: a hostile server cannot make it burn minutes. */
  readonly maxIterations?: number;
  /**
   * Lowest iteration count a client accepts. Default 4096 (RFC 7677 §4 "at least 4096").
   * Lower it to talk to a weak server; each accepted count below 4096 then calls `onWarning`.
   */
  readonly minIterations?: number;
  /** Where derived keys are cached between exchanges; `false` turns caching off. Default: a shared 64-entry LRU. */
  readonly cache?: ScramKeyCache | false;
  /** Receives warnings (an iteration count below 4096 accepted because `minIterations` allows it). */
  readonly onWarning?: (message: string) => void;
}

/** The shape of `context.options` SCRAM reads: `{ scram: { ... } }`. */
export interface ScramContextOptions {
  readonly scram?: ScramOptions;
}

export const RFC_MIN_ITERATIONS = 4096;
export const DEFAULT_MAX_ITERATIONS = 100_000;

/** Options with defaults filled in. */
export interface ResolvedScramOptions {
  readonly channelBinding: boolean;
  /** The one binding type the caller allows; undefined = the library's preference order. */
  readonly bindingType: ChannelBindingType | undefined;
  readonly maxIterations: number;
  readonly minIterations: number;
  readonly cache: ScramKeyCache | false;
  readonly onWarning: ((message: string) => void) | undefined;
}

/** Reads `options.scram`, ignoring fields of the wrong type (the options bag is opaque to core). */
export function resolveScramOptions(options: Readonly<Record<string, unknown>>): ResolvedScramOptions {
  const raw = options["scram"];
  const o: ScramOptions = typeof raw === "object" && raw !== null ? (raw as ScramOptions) : {};
  const positive = (n: unknown, fallback: number) => (typeof n === "number" && Number.isInteger(n) && n >= 1 ? n : fallback);
  return {
    channelBinding: o.channelBinding !== false,
    bindingType: o.channelBinding === "tls-exporter" || o.channelBinding === "tls-server-end-point" || o.channelBinding === "tls-unique" ? o.channelBinding : undefined,
    maxIterations: positive(o.maxIterations, DEFAULT_MAX_ITERATIONS),
    minIterations: positive(o.minIterations, RFC_MIN_ITERATIONS),
    cache: o.cache === false ? false : o.cache && typeof o.cache.get === "function" ? o.cache : defaultScramKeyCache,
    onWarning: typeof o.onWarning === "function" ? o.onWarning : undefined,
  };
}
