/**
 * Issue 10 item 2, DATA memory: a message costs memory within a small constant factor of its size,
 * whatever its line structure. Before the fix, 10 MiB of empty lines (one Buffer per line) grew the
 * heap by about 1 GB. Each case runs in a fresh node with --expose-gc (fixtures/data-memory.mjs, the
 * built server), which collects before every sample, so the figure is live memory, not garbage.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const fixture = fileURLToPath(new URL("./fixtures/data-memory.mjs", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../dist/index.js", import.meta.url)));
const MiB = 1024 * 1024;

interface Measure {
  shape: string;
  transfer: string;
  mode: string;
  sent: number;
  stored: number;
  final: string;
  finals: string[];
  growth: number;
}

function measure(...args: string[]): Promise<Measure> {
  return measureIn([], ...args);
}

/** Runs the fixture in a fresh node with `nodeArgs` (a heap limit) besides --expose-gc. */
function measureIn(nodeArgs: string[], ...args: string[]): Promise<Measure> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ["--expose-gc", ...nodeArgs, fixture, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!) as Measure);
    });
  });
}

describe.skipIf(!built)("DATA memory stays proportional to the message (child node, --expose-gc)", { timeout: 60_000 }, () => {
  it("10 MiB of empty lines over DATA, kept in the default store: live growth under 64 MiB (was ~1 GB)", async () => {
    const m = await measure("empty-lines", "10", "DATA", "store");
    expect(m.final).toMatch(/^250 /);
    expect(m.stored).toBeGreaterThanOrEqual(10 * MiB);
    expect(m.growth).toBeLessThan(64 * MiB);
    expect(m.growth).toBeLessThan(3 * m.stored + 8 * MiB);
  });

  it("10 MiB of empty lines streamed to onData with the store off: growth independent of the size (< 16 MiB)", async () => {
    const m = await measure("empty-lines", "10", "DATA", "stream");
    expect(m.final).toMatch(/^250 /);
    expect(m.stored).toBeGreaterThanOrEqual(10 * MiB);
    expect(m.growth).toBeLessThan(16 * MiB);
  });

  it("four clients at once, 10 MiB of empty lines each, in a node with a 128 MiB heap: all accepted (four used to crash a 512 MB heap)", async () => {
    const m = await measureIn(["--max-old-space-size=128"], "empty-lines", "10", "DATA", "store", "4");
    expect(m.finals).toHaveLength(4);
    for (const final of m.finals) expect(final).toMatch(/^250 2\.0\.0 OK queued/);
    expect(m.growth).toBeLessThan(96 * MiB);
  });

  it.each([
    ["stuffed-dots", "DATA"],
    ["bare-lf", "DATA"],
    ["bare-cr", "DATA"],
    ["empty-lines", "BDAT"],
  ])("10 MiB of %s over %s: growth within three times the stored message plus 8 MiB", async (shape, transfer) => {
    // The store's copy is joined into one Buffer at the end: for a moment the blocks and the
    // joined copy coexist (2x), plus what the transport and the last reads still hold.
    const m = await measure(shape, "10", transfer, "store");
    expect(m.final).toMatch(/^250 /);
    expect(m.growth).toBeLessThan(3 * m.stored + 8 * MiB);
  });
});
