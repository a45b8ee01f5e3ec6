import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DotStuffer, dotStuff } from "../src/data.js";

describe("dot-stuffing and CRLF normalisation (RFC 5321 §4.5.2)", () => {
  it.each([
    ["a\r\nb\r\n", "a\r\nb\r\n"],
    ["a\nb\n", "a\r\nb\r\n"],
    ["a\rb\r", "a\r\nb\r\n"],
    ["a\r\n.b\r\n", "a\r\n..b\r\n"],
    [".first", "..first\r\n"],
    ["..two", "...two\r\n"],
    ["a\n.\nb", "a\r\n..\r\nb\r\n"],
    ["no final newline", "no final newline\r\n"],
    ["mid.dot\n", "mid.dot\r\n"],
    ["a\r\r\nb", "a\r\n\r\nb\r\n"],
    ["\n\n", "\r\n\r\n"],
    ["", ""],
  ])("%j", (input, expected) => {
    expect(dotStuff(input).toString()).toBe(expected);
  });

  it("keeps state across chunk boundaries (CR|LF split, dot after a split line end)", async () => {
    const chunks = ["line1\r", "\n.dot\r", "\r\n", ".", "x\n", "end"];
    const s = new DotStuffer();
    const out: Buffer[] = [];
    Readable.from(chunks.map((c) => Buffer.from(c))).pipe(s);
    for await (const c of s) out.push(c as Buffer);
    expect(Buffer.concat(out).toString()).toBe("line1\r\n..dot\r\n\r\n..x\r\nend\r\n");
    expect(s.bytes).toBe(Buffer.concat(out).length);
  });

  it("streams a large body without holding it (output arrives before input ends)", async () => {
    const s = new DotStuffer({ highWaterMark: 1024 });
    let produced = 0;
    const total = 200;
    const source = new Readable({
      read() {
        if (produced === total) return this.push(null);
        produced++;
        this.push(Buffer.from(".x\n".repeat(1000)));
      },
    });
    source.pipe(s);
    await new Promise((resolve) => s.once("readable", resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(produced).toBeLessThan(total); // backpressure: nothing reads, so the source is not drained
    let first: Buffer | undefined;
    for await (const c of s) first ??= c as Buffer;
    expect(first!.subarray(0, 5).toString()).toBe("..x\r\n");
    expect(s.bytes).toBe(total * 1000 * 5);
  });
});
