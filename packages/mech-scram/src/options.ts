/**
 * The caller's SCRAM options, read from `context.options.scram` (client and server).
 */
import type { ChannelBindingType } from "@saslkit/core";
import { CHANNEL_BINDING_PREFERENCE } from "./binding.js";
import type { ScramKeyCache } from "./keys.js";
import { defaultScramKeyCache } from "./keys.js";

/** Options under `options.scram` (client and server contexts). */
export interface ScramOptions {
  /**
   * Channel binding. Default `true`: bind when the channel can, choosing the library's order
   * (`tls-exporter`, `tls-server-end-point`, `tls-unique`, the first the connection can produce).
   * `false` makes every -PLUS provider unusable and the client always sends GS2 flag `n` (an
   * opt-out for servers whose -PLUS is broken, mox#374); on a server it means "this server does
   * not bind". A type name, or a list of them in order of preference, binds only with those types:
   * a client whose connection cannot produce one treats -PLUS as unusable instead of using another
   * type, and a server accepts only those. Unknown names are dropped, so a list of only unknown
   * names means "cannot bind" rather than a silent default.
   */
  readonly channelBinding?: boolean | ChannelBindingType | readonly ChannelBindingType[];
  /**
   * Server: the iteration count this deployment stores keys with, used for the made-up
   * server-first of an unknown user so that it looks like a real one. Default: the count of the
   * most recent real user's keys for that hash, 4096 before any.
   */
  readonly iterations?: number;
  /** Server: the salt length in bytes of stored keys, for unknown users likewise. Default: the most recent real user's, else 16. */
  readonly saltLength?: number;
  /**
   * Server: the secret the made-up salt of an unknown user is derived from (HMAC of the name), so
   * it stays the same for the same name. Default: a random per-process secret; give one (16 bytes
   * or more) to keep salts stable across restarts and between servers of one deployment.
   */
  readonly unknownUserSecret?: Uint8Array;
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
  readonly channelBindingTypes: readonly ChannelBindingType[];
  readonly iterations: number | undefined;
  readonly saltLength: number | undefined;
  readonly unknownUserSecret: Uint8Array | undefined;
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
  const cb = o.channelBinding;
  const requested: readonly unknown[] = cb === undefined || cb === true || cb === false ? CHANNEL_BINDING_PREFERENCE : Array.isArray(cb) ? cb : [cb];
  return {
    channelBinding: cb !== false,
    channelBindingTypes: requested.filter((t): t is ChannelBindingType => CHANNEL_BINDING_PREFERENCE.includes(t as ChannelBindingType)),
    iterations: typeof o.iterations === "number" && Number.isInteger(o.iterations) && o.iterations >= 1 ? o.iterations : undefined,
    saltLength: typeof o.saltLength === "number" && Number.isInteger(o.saltLength) && o.saltLength >= 1 && o.saltLength <= 1024 ? o.saltLength : undefined,
    unknownUserSecret: o.unknownUserSecret instanceof Uint8Array && o.unknownUserSecret.length > 0 ? o.unknownUserSecret : undefined,
    maxIterations: positive(o.maxIterations, DEFAULT_MAX_ITERATIONS),
    minIterations: positive(o.minIterations, RFC_MIN_ITERATIONS),
    cache: o.cache === false ? false : o.cache && typeof o.cache.get === "function" ? o.cache : defaultScramKeyCache,
    onWarning: typeof o.onWarning === "function" ? o.onWarning : undefined,
  };
}
