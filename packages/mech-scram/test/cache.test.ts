/**
 * The derived-key cache: bounded LRU, hashed keys, a reconnect costs no PBKDF2.
 */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { utf8 } from "@saslkit/core";
import { LruScramKeyCache, ScramClient, defaultScramKeyCache, type ScramClientKeys, type ScramKeyCache } from "@saslkit/mech-scram";
import { clientContext, hex, text } from "./helpers.js";

const NONCE = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const CLIENT_FINAL = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
const keys = (n: number): ScramClientKeys => ({ clientKey: new Uint8Array([n]), serverKey: new Uint8Array([n]) });

/** A cache that records what it is asked. */
class RecordingCache implements ScramKeyCache {
  readonly inner = new LruScramKeyCache(8);
  readonly gets: string[] = [];
  readonly sets: string[] = [];
  get(key: string) {
    this.gets.push(key);
    return this.inner.get(key);
  }
  set(key: string, value: ScramClientKeys) {
    this.sets.push(key);
    this.inner.set(key, value);
  }
}

async function exchange(cache: ScramKeyCache | false | undefined, password = "pencil") {
  const options = cache === undefined ? {} : { scram: { cache } };
  const c = new ScramClient(clientContext({ credentials: { username: "user", password }, options }), { hash: "SHA-1", nonce: NONCE });
  await c.start();
  return text(await c.step(utf8(SERVER_FIRST)));
}

describe("LruScramKeyCache", () => {
  it("evicts the least recently used entry beyond its bound", () => {
    const cache = new LruScramKeyCache(2);
    cache.set("a", keys(1));
    cache.set("b", keys(2));
    expect(cache.get("a")).toEqual(keys(1)); // a is now the most recent
    cache.set("c", keys(3));
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toEqual(keys(1));
    expect(cache.get("c")).toEqual(keys(3));
    expect(cache.size).toBe(2);
  });
  it("refuses a bound below one", () => {
    expect(() => new LruScramKeyCache(0)).toThrow(RangeError);
  });
  it("prints only its size", () => {
    const cache = new LruScramKeyCache(4);
    cache.set("k", { clientKey: utf8("secretkeybytes"), serverKey: utf8("secretkeybytes") });
    expect(inspect(cache)).toBe('LruScramKeyCache {"size":1,"maxEntries":4}');
    expect(JSON.stringify(cache)).not.toContain("secret");
  });
});

describe("the client's key cache", () => {
  it("a second exchange with the same salt, count and password is a hit and gives the same proof", async () => {
    const cache = new RecordingCache();
    expect(await exchange(cache)).toBe(CLIENT_FINAL);
    expect(cache.sets).toHaveLength(1);
    expect(await exchange(cache)).toBe(CLIENT_FINAL);
    expect(cache.sets).toHaveLength(1);
    expect(cache.gets).toHaveLength(2);
    expect(cache.gets[1]).toBe(cache.sets[0]);
  });
  it("keys are opaque hex digests, never the password", async () => {
    const cache = new RecordingCache();
    await exchange(cache);
    const key = cache.sets[0] as string;
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain("pencil");
    expect(key).not.toContain(hex(utf8("pencil")));
  });
  it("a different password is a different entry", async () => {
    const cache = new RecordingCache();
    await exchange(cache, "pencil");
    const other = await exchange(cache, "crayon");
    expect(other).not.toBe(CLIENT_FINAL);
    expect(new Set(cache.sets).size).toBe(2);
  });
  it("by default the shared cache is used; cache: false leaves it alone", async () => {
    defaultScramKeyCache.clear();
    await exchange(false);
    expect(defaultScramKeyCache.size).toBe(0);
    await exchange(undefined);
    expect(defaultScramKeyCache.size).toBe(1);
    defaultScramKeyCache.clear();
  });
});

describe("concurrent derivations", () => {
  it("share one PBKDF2 when many exchanges derive the same keys at once", async () => {
    const { clientKeys, LruScramKeyCache } = await import("../src/keys.js");
    const crypto = await import("node:crypto");
    const salt = crypto.randomBytes(16);
    const cache = new LruScramKeyCache(8);
    const all = await Promise.all(Array.from({ length: 20 }, () => clientKeys("SHA-256", "pencil", salt, 4096, cache)));
    // One derivation: every caller got the very same key object.
    expect(new Set(all).size).toBe(1);
    expect(Buffer.from(all[0]!.clientKey).toString("hex")).toBe(Buffer.from(crypto.createHmac("sha256", crypto.pbkdf2Sync("pencil", salt, 4096, 32, "sha256")).update("Client Key").digest()).toString("hex"));
  });

  it("bounds how many derivations run at once, and still completes them all", async () => {
    const { saltedPassword, setPbkdf2Concurrency } = await import("../src/keys.js");
    setPbkdf2Concurrency(1);
    try {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => saltedPassword("SHA-1", `p${i}`, Buffer.from("salt"), 4096)));
      expect(new Set(results.map((r) => Buffer.from(r).toString("hex"))).size).toBe(6);
    } finally {
      setPbkdf2Concurrency(Math.max(1, (await import("node:os")).availableParallelism() - 1));
    }
    expect(() => setPbkdf2Concurrency(0)).toThrow(RangeError);
  });
});
