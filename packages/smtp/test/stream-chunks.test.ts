import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { streamChunks } from "../src/transaction.js";

/** A source that pushes synchronously from `_read`, the case where `read()` joins chunks. */
function syncSource(chunks: Buffer[], failAfter?: number): Readable {
  let i = 0;
  return new Readable({
    highWaterMark: 4,
    read() {
      if (failAfter !== undefined && i === failAfter) {
        this.destroy(new Error("disk gone"));
        return;
      }
      this.push(i < chunks.length ? chunks[i++]! : null);
    },
  });
}

/** The consumer does some work between chunks (the client waits for the socket): the source reads ahead meanwhile. */
const busy = () => new Promise((resolve) => setImmediate(resolve));

const chunks = () => Array.from({ length: 5 }, (_, i) => Buffer.alloc(8, 0x61 + i));

describe("streamChunks: a body's chunks as the stream produced them", () => {
  it("yields the very buffers the source pushed, never a joined copy", async () => {
    const pushed = chunks();
    const got: unknown[] = [];
    for await (const c of streamChunks(syncSource(pushed))) {
      got.push(c);
      await busy();
    }
    expect(got).toHaveLength(pushed.length);
    got.forEach((c, i) => expect(c).toBe(pushed[i]));
  });

  it("Node's own iterator joins buffered chunks (why streamChunks exists)", async () => {
    const got: Buffer[] = [];
    for await (const c of syncSource(chunks())) {
      got.push(c as Buffer);
      await busy();
    }
    expect(got.length).toBeLessThan(5);
    expect(Buffer.concat(got)).toEqual(Buffer.concat(chunks()));
  });

  it("reads a stream its owner paused before handing it over", async () => {
    const source = syncSource(chunks());
    source.pause();
    let n = 0;
    for await (const _ of streamChunks(source)) n++;
    expect(n).toBe(5);
  });

  it("throws the source's error after the chunks before it", async () => {
    const got: unknown[] = [];
    const reading = (async () => {
      for await (const c of streamChunks(syncSource(chunks(), 2))) got.push(c);
    })();
    await expect(reading).rejects.toThrow("disk gone");
    expect(got.length).toBeLessThanOrEqual(2);
  });

  it("a stream destroyed before its end is an error, not a short message", async () => {
    const source = new Readable({ read() {} });
    source.push(Buffer.from("a"));
    const reading = (async () => {
      for await (const _ of streamChunks(source)) source.destroy();
    })();
    await expect(reading).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("leaving early destroys the stream", async () => {
    const source = syncSource(chunks());
    for await (const _ of streamChunks(source)) break;
    expect(source.destroyed).toBe(true);
  });
});
