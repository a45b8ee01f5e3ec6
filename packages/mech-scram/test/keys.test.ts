/**
 * PBKDF2 runs off the event loop, and deriveScramKeys validates its input.
 */
import { describe, expect, it } from "vitest";
import { deriveScramKeys } from "@saslkit/mech-scram";

describe("key derivation", () => {
  it("PBKDF2 is asynchronous: the event loop runs while keys are derived", async () => {
    const order: string[] = [];
    const derivation = deriveScramKeys("SHA-512", "pencil", { iterations: 20_000 }).then(() => order.push("derived"));
    setImmediate(() => order.push("event loop turned"));
    await derivation;
    expect(order[0]).toBe("event loop turned");
  });

  it("random salts differ; given salts and counts are kept", async () => {
    const a = await deriveScramKeys("SHA-256", "pencil");
    const b = await deriveScramKeys("SHA-256", "pencil");
    expect(a.salt).toHaveLength(16);
    expect(Buffer.from(a.salt).equals(Buffer.from(b.salt))).toBe(false);
    expect(Buffer.from(a.storedKey).equals(Buffer.from(b.storedKey))).toBe(false);
    const fixed = await deriveScramKeys("SHA-1", "pencil", { salt: new Uint8Array([1, 2, 3]), iterations: 10 });
    expect([...fixed.salt]).toEqual([1, 2, 3]);
    expect(fixed.iterations).toBe(10);
    expect(fixed.storedKey).toHaveLength(20);
  });

  it("refuses a bad hash, count or salt", async () => {
    await expect(deriveScramKeys("MD5" as never, "pencil")).rejects.toThrow(TypeError);
    await expect(deriveScramKeys("SHA-256", "pencil", { iterations: 0 })).rejects.toThrow(RangeError);
    await expect(deriveScramKeys("SHA-256", "pencil", { salt: new Uint8Array(0) })).rejects.toThrow(RangeError);
  });
});
