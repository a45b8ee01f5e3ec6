/**
 * SCRAM key derivation (RFC 5802 §3) with node:crypto, and the bounded key cache.
 *
 * PBKDF2 (`Hi()`) runs through node:crypto's asynchronous `pbkdf2`, on libuv's thread pool, so
 * the event loop never blocks. Derived keys are cached under an HMAC of (hash, salt, iterations,
 * password) with a per-process random key: the cache never holds the password, and its keys are
 * useless outside this process.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import type { ScramStoredKeys } from "./stored-keys.js";

/** The hash functions SCRAM is defined for here, by their IANA/`lookupScramKeys` spelling. */
export type ScramHash = "SHA-1" | "SHA-256" | "SHA-512";

/** node:crypto's name and the digest length of each hash. */
export const HASHES: Readonly<Record<ScramHash, { readonly node: string; readonly length: number }>> = {
  "SHA-1": { node: "sha1", length: 20 },
  "SHA-256": { node: "sha256", length: 32 },
  "SHA-512": { node: "sha512", length: 64 },
};

/** The two keys a client derives from the password: enough to prove (ClientKey) and to verify the server (ServerKey). */
export interface ScramClientKeys {
  readonly clientKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

/**
 * Where clients keep derived keys between exchanges, so a reconnect costs no PBKDF2. `key` is an
 * opaque hex string (an HMAC of hash, salt, iterations and password), never the password.
 * Implement it to share keys across processes, or pass `cache: false` to turn caching off.
 */
export interface ScramKeyCache {
  get(key: string): ScramClientKeys | undefined;
  set(key: string, keys: ScramClientKeys): void;
}

/** A bounded least-recently-used `ScramKeyCache` held in memory. */
export class LruScramKeyCache implements ScramKeyCache {
  readonly #entries = new Map<string, ScramClientKeys>();

  /** `maxEntries` bounds memory; the least recently used entry goes first. Default 64. */
  constructor(readonly maxEntries = 64) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("LruScramKeyCache: maxEntries must be a positive integer.");
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): ScramClientKeys | undefined {
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, keys: ScramClientKeys): void {
    this.#entries.delete(key);
    this.#entries.set(key, keys);
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Prints only the size: the entries are password equivalents. */
  toJSON(): Record<string, unknown> {
    return { size: this.#entries.size, maxEntries: this.maxEntries };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `LruScramKeyCache ${JSON.stringify(this.toJSON())}`;
  }
}

/** The cache every client uses unless its options name another (or `false`). */
export const defaultScramKeyCache: LruScramKeyCache = new LruScramKeyCache(64);

const cacheKeySecret = randomBytes(32);

/** The cache key for one derivation: HMAC-SHA-256 under a per-process secret, hex. */
export function scramCacheKey(hash: ScramHash, salt: Uint8Array, iterations: number, password: string): string {
  const mac = createHmac("sha256", cacheKeySecret);
  for (const part of [Buffer.from(hash), Buffer.from(String(iterations)), Buffer.from(salt), Buffer.from(password, "utf8")]) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(part.length);
    mac.update(len).update(part);
  }
  return mac.digest("hex");
}

// PBKDF2 runs on libuv's pool, but its threads still compete with the event loop for CPU: with
// 100 exchanges at once, four busy pool threads starve the main thread for tens of ms. At most
// `pbkdf2Concurrency` derivations run at once, leaving the event loop a core; the rest queue.
let pbkdf2Concurrency = Math.max(1, availableParallelism() - 1);
let running = 0;
const waiting: (() => void)[] = [];

/**
 * Sets how many PBKDF2 derivations may run at once in this process (default: one less than the
 * CPUs available, at least 1). Higher gives more authentications per second under load, lower
 * keeps the event loop more responsive.
 */
export function setPbkdf2Concurrency(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError("the PBKDF2 concurrency must be a whole number of at least 1.");
  pbkdf2Concurrency = limit;
  while (running < pbkdf2Concurrency && waiting.length) waiting.shift()!();
}

async function slot(): Promise<() => void> {
  if (running >= pbkdf2Concurrency) await new Promise<void>((go) => waiting.push(go));
  running++;
  return () => {
    running--;
    if (running < pbkdf2Concurrency) waiting.shift()?.();
  };
}

/** `Hi(password, salt, i)` = PBKDF2 with HMAC-hash, asynchronous and bounded in concurrency. */
export async function saltedPassword(hash: ScramHash, password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const { node, length } = HASHES[hash];
  const release = await slot();
  try {
    return await new Promise((resolve, reject) => {
      pbkdf2(Buffer.from(password, "utf8"), salt, iterations, length, node, (error, key) => (error ? reject(error) : resolve(new Uint8Array(key))));
    });
  } finally {
    release();
  }
}

export function hmac(hash: ScramHash, key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac(HASHES[hash].node, key).update(data).digest());
}

export function digest(hash: ScramHash, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(HASHES[hash].node).update(data).digest());
}

export function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/** ClientKey and ServerKey from a SaltedPassword. */
export function keysFromSaltedPassword(hash: ScramHash, salted: Uint8Array): ScramClientKeys {
  return { clientKey: hmac(hash, salted, "Client Key"), serverKey: hmac(hash, salted, "Server Key") };
}

/**
 * ClientKey and ServerKey for a (prepared) password, from `cache` when present, else by PBKDF2
 * (then stored in `cache`).
 */
export async function clientKeys(
  hash: ScramHash,
  password: string,
  salt: Uint8Array,
  iterations: number,
  cache: ScramKeyCache | false,
): Promise<ScramClientKeys> {
  if (!cache) return keysFromSaltedPassword(hash, await saltedPassword(hash, password, salt, iterations));
  const key = scramCacheKey(hash, salt, iterations, password);
  const hit = cache.get(key);
  if (hit) return hit;
  // Many connections opening at once with the same credentials share one derivation.
  let pending = inFlight.get(key);
  if (!pending) {
    pending = saltedPassword(hash, password, salt, iterations).then((salted) => keysFromSaltedPassword(hash, salted));
    inFlight.set(key, pending);
    pending.then(
      (keys) => (cache.set(key, keys), inFlight.delete(key)),
      () => inFlight.delete(key),
    );
  }
  return pending;
}

const inFlight = new Map<string, Promise<ScramClientKeys>>();

/** Options for `deriveScramKeys`. */
export interface DeriveScramKeysOptions {
  /** The salt; default 16 random bytes from node:crypto. */
  readonly salt?: Uint8Array;
  /** PBKDF2 iterations; default 4096 (the RFC 7677 minimum; raise it for new databases). */
  readonly iterations?: number;
}

/**
 * Creates the stored keys a SCRAM server keeps for one user and hash (RFC 5802 §3): salt,
 * iteration count, StoredKey = H(ClientKey) and ServerKey. The password itself is not kept.
 * The password should already be SASLprep'd the way clients prepare it (`prepareScramPassword`).
 *
 * ```ts
 * const keys = await deriveScramKeys("SHA-256", prepareScramPassword("pencil"), { iterations: 10000 });
 * ```
 */
export async function deriveScramKeys(hash: ScramHash, password: string, options: DeriveScramKeysOptions = {}): Promise<ScramStoredKeys> {
  if (!(hash in HASHES)) throw new TypeError(`deriveScramKeys: unknown hash "${String(hash)}"; use SHA-1, SHA-256 or SHA-512.`);
  const iterations = options.iterations ?? 4096;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError("deriveScramKeys: iterations must be a positive integer.");
  const salt = options.salt ?? new Uint8Array(randomBytes(16));
  if (salt.length === 0) throw new RangeError("deriveScramKeys: the salt must not be empty.");
  const { clientKey, serverKey } = keysFromSaltedPassword(hash, await saltedPassword(hash, password, salt, iterations));
  return { salt: new Uint8Array(salt), iterations, storedKey: digest(hash, clientKey), serverKey };
}
