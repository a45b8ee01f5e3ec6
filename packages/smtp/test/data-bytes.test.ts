import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DotEncoder, dotStuff } from "../src/data.js";

/** The rule (RFC 5321 §4.5.2 plus CRLF repair), one character at a time: the reference. */
function reference(body: Buffer): Buffer {
  const out: number[] = [];
  let atStart = true;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b === 0x0d) {
      out.push(0x0d, 0x0a);
      if (body[i + 1] === 0x0a) i++;
      atStart = true;
      continue;
    }
    if (b === 0x0a) {
      out.push(0x0d, 0x0a);
      atStart = true;
      continue;
    }
    if (atStart && b === 0x2e) out.push(0x2e);
    out.push(b);
    atStart = false;
  }
  if (!atStart) out.push(0x0d, 0x0a);
  return Buffer.from(out);
}

function encodeChunked(body: Buffer, cuts: readonly number[]): { bytes: Buffer; size: number; pieces: Buffer[] } {
  const enc = new DotEncoder();
  const pieces: Buffer[] = [];
  let size = 0;
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    const to = Math.max(from, Math.min(cut, body.length));
    size += enc.encodeInto(body.subarray(from, to), pieces);
    from = to;
  }
  const tail = enc.finish();
  pieces.push(tail);
  size += tail.length;
  return { bytes: Buffer.concat(pieces), size, pieces };
}

const bodies = fc.array(fc.constantFrom("a", "b", ".", "\r", "\n", "\r\n", "..", "\u00e9", "\0"), { maxLength: 60 }).map((p) => Buffer.from(p.join(""), "utf8"));

describe("DotEncoder on bytes", () => {
  it("equals the one-character-at-a-time rule for any body and any chunking (CR|LF and dots split across chunks)", () => {
    fc.assert(
      fc.property(bodies, fc.array(fc.nat({ max: 70 }), { maxLength: 8 }), (body, cuts) => {
        const sorted = [...cuts].sort((a, b) => a - b);
        const { bytes, size } = encodeChunked(body, sorted);
        expect(bytes.equals(reference(body))).toBe(true);
        expect(size).toBe(bytes.length);
      }),
      { numRuns: 3000 },
    );
  });

  it("hands back the input itself when nothing needs changing (no copy)", () => {
    const input = Buffer.from("Subject: x\r\n\r\nbody line\r\n");
    const out: Buffer[] = [];
    expect(new DotEncoder().encodeInto(input, out)).toBe(input.length);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(input);
  });

  it("stuffs dots with views of the input, not a copy of it", () => {
    const input = Buffer.from("a\r\n.b\r\n.c\r\n");
    const out: Buffer[] = [];
    new DotEncoder().encodeInto(input, out);
    expect(Buffer.concat(out).toString()).toBe("a\r\n..b\r\n..c\r\n");
    for (const piece of out) if (piece.length > 1) expect(piece.buffer).toBe(input.buffer);
  });

  it("joins pieces when a chunk needs many repairs (bare LF on every short line)", () => {
    const input = Buffer.from("x\n".repeat(5000));
    const out: Buffer[] = [];
    const size = new DotEncoder().encodeInto(input, out);
    expect(out).toHaveLength(1);
    expect(size).toBe(15000);
    expect(out[0]!.toString()).toBe("x\r\n".repeat(5000));
  });

  it("a big chunk of bare-LF lines comes back as a few blocks, not a piece per line", () => {
    const input = Buffer.from("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\n".repeat(65536)); // 4 MiB
    const out: Buffer[] = [];
    const size = new DotEncoder().encodeInto(input, out);
    expect(size).toBe(input.length + 65536);
    expect(out.length).toBeLessThanOrEqual(Math.ceil(size / (64 * 1024)) + 1);
    expect(Math.max(...out.map((piece) => piece.length))).toBeLessThanOrEqual(64 * 1024); // no copy of the whole chunk
    expect(Buffer.concat(out).equals(reference(input).subarray(0, size))).toBe(true);
  });

  it("equals the rule on big chunks that turn dense part-way (blocks), whatever the cuts", () => {
    // Seeded bodies of 300-700 KiB: runs of long CRLF lines (views) and of short lines with bare
    // LF, bare CR, CRLF and leading dots (dense), so chunks switch to blocks in mid-chunk.
    const body = (seed: number): Buffer => {
      let x = seed >>> 0 || 1;
      const rand = (n: number) => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) % n;
      };
      const size = 300 * 1024 + rand(400 * 1024);
      const parts: string[] = [];
      let length = 0;
      while (length < size) {
        const dense = rand(3) > 0;
        for (let l = 0; l < 200; l++) {
          const line = (rand(4) === 0 ? "." : "") + "x".repeat(dense ? rand(20) : 200 + rand(2000));
          const end = dense ? ["\n", "\r", "\r\n"][rand(3)]! : "\r\n";
          parts.push(line + end);
          length += line.length + end.length;
        }
      }
      return Buffer.from(parts.join(""), "latin1");
    };
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.integer({ min: 0, max: 700 * 1024 }), { maxLength: 3 }), (seed, cuts) => {
        const input = body(seed);
        const { bytes, size } = encodeChunked(input, [...cuts].sort((a, b) => a - b));
        expect(bytes.equals(reference(input))).toBe(true);
        expect(size).toBe(bytes.length);
      }),
      { numRuns: 25 },
    );
  });

  it("a CR ending one chunk and its LF starting the next make one line end", () => {
    expect(encodeChunked(Buffer.from("a\r\n.b"), [2]).bytes.toString()).toBe("a\r\n..b\r\n");
    expect(encodeChunked(Buffer.from("a\r\r\nb"), [2, 3]).bytes.toString()).toBe("a\r\n\r\nb\r\n");
  });

  it("dotStuff and encodeWithEnd agree with the rule", () => {
    expect(dotStuff("a\n.b").toString()).toBe("a\r\n..b\r\n");
    expect(new DotEncoder().encodeWithEnd(Buffer.from(".x")).toString()).toBe("..x\r\n.\r\n");
    expect(new DotEncoder().encodeWithEnd(Buffer.from("")).toString()).toBe(".\r\n");
  });

  it("for BDAT (stuffDots: false) a whole message gets its line ends repaired, no doubled dot and no end marker", () => {
    const whole = (text: string) => {
      const out: Buffer[] = [];
      const size = new DotEncoder({ stuffDots: false }).encodeWholeInto(Buffer.from(text), out);
      const bytes = Buffer.concat(out);
      expect(bytes.length).toBe(size);
      return bytes.toString();
    };
    expect(whole(".x\n.\nend")).toBe(".x\r\n.\r\nend\r\n");
    expect(whole("a\r\n")).toBe("a\r\n");
    expect(whole("")).toBe("");
  });
});
