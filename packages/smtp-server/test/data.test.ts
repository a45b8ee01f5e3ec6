/**
 * The DATA decoder on its own: only <CRLF>.<CRLF> ends a message (RFC 5321 §4.1.1.4), bare CR and
 * LF are normalised to CRLF, dots are unstuffed, and the result does not depend on where the
 * chunks are cut. A reference decoder written the obvious (slow, string) way is the oracle.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataDecoder } from "../src/data.js";
import { FAKE_TERMINATORS, referenceMessage as reference } from "./helpers.js";

/** Feeds `chunks` until done; returns the message and everything after the terminator. */
function decode(chunks: Buffer[]): { message: Buffer; rest: Buffer; decoder: DataDecoder } | { message: Buffer; done: false; decoder: DataDecoder } {
  const decoder = new DataDecoder();
  const out: Buffer[] = [];
  for (let i = 0; i < chunks.length; i++) {
    const r = decoder.push(chunks[i]!);
    out.push(Buffer.from(r.data));
    if (r.done) return { message: Buffer.concat(out), rest: Buffer.concat([r.rest ?? Buffer.alloc(0), ...chunks.slice(i + 1)]), decoder };
  }
  return { message: Buffer.concat(out), done: false, decoder };
}

const bytes = (s: string) => Buffer.from(s, "latin1");

describe("DataDecoder: the end of DATA", () => {
  it("ends at <CRLF>.<CRLF> and hands back what follows", () => {
    const r = decode([bytes("Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")]);
    expect(r).toMatchObject({ message: bytes("Subject: x\r\n\r\nbody\r\n"), rest: bytes("QUIT\r\n") });
  });

  it("an empty message: '.' right after 354", () => {
    expect(decode([bytes(".\r\nNOOP\r\n")])).toMatchObject({ message: Buffer.alloc(0), rest: bytes("NOOP\r\n") });
  });

  it.each<readonly [string, string]>([
    ...FAKE_TERMINATORS,
    ["<CR><LF>.<CR><CR><LF>", "\r\n.\r\r\n"],
    ["<CR><LF>. <CR><LF>", "\r\n. \r\n"],
  ])("%s never ends the message: the smuggled commands stay content, CRLF-normalised", (_name, fake) => {
    const smuggled = "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n";
    const input = bytes(`hello${fake}${smuggled}.\r\nQUIT\r\n`);
    const r = decode([input]);
    expect("rest" in r).toBe(true);
    if (!("rest" in r)) return;
    expect(r.rest.toString()).toBe("QUIT\r\n");
    expect(r.message.toString("latin1")).toContain("MAIL FROM:<evil@attacker.test>\r\n");
    expect(r.message).toEqual(reference(input)!.message);
    expect(r.message.toString("latin1")).not.toMatch(/\r(?!\n)|(?<!\r)\n/);
  });

  it("the same fake terminators cut into one-byte chunks never end the message either", () => {
    for (const fake of ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n", "\r\n.\r"]) {
      const input = bytes(`a${fake}MAIL FROM:<e@x.test>\r\n.\r\n`);
      const r = decode([...input].map((b) => Buffer.from([b])));
      expect("rest" in r && r.rest.length === 0).toBe(true);
      expect(r.message).toEqual(reference(input)!.message);
    }
  });

  it("records bare newlines and the longest line, for the session's rules", () => {
    const clean = decode([bytes("a\r\nbb\r\n.\r\n")]);
    expect(clean.decoder.bareNewline).toBe(false);
    expect(clean.decoder.longestLine).toBe(2);
    expect(decode([bytes("a\nb\r\n.\r\n")]).decoder.bareNewline).toBe(true);
    expect(decode([bytes("a\rb\r\n.\r\n")]).decoder.bareNewline).toBe(true);
  });

  it("unstuffs a leading dot on every line, 8-bit clean", () => {
    const r = decode([Buffer.concat([bytes("..a\r\n.\xe9\r\n...\r\n"), Buffer.from([0xff, 0x00, 0x0d, 0x0a]), bytes(".\r\n")])]);
    expect(r.message).toEqual(Buffer.concat([bytes(".a\r\n\xe9\r\n..\r\n"), Buffer.from([0xff, 0x00, 0x0d, 0x0a])]));
  });

  it("property: any bytes, cut anywhere, decode as the RFC reference does", () => {
    const unit = fc.constantFrom(..."\r\n.a\r\n.".split("").map((c) => c.charCodeAt(0)), 0x2e, 0x0d, 0x0a);
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 60 }), fc.array(fc.integer({ min: 1, max: 7 }), { maxLength: 20 }), (codes, cuts) => {
        const input = Buffer.concat([Buffer.from(codes), bytes("\r\n.\r\nZ")]);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const n of cuts) {
          if (at >= input.length) break;
          chunks.push(input.subarray(at, at + n));
          at += n;
        }
        if (at < input.length) chunks.push(input.subarray(at));
        const expected = reference(input)!;
        const got = decode(chunks);
        expect("rest" in got).toBe(true);
        if (!("rest" in got)) return;
        expect(got.message.toString("latin1")).toBe(expected.message.toString("latin1"));
        expect(got.rest.toString("latin1")).toBe(expected.rest.toString("latin1"));
      }),
      { numRuns: 2000 },
    );
  });

  it("no object per line: 4 MiB of empty lines decode to one view per chunk", () => {
    const decoder = new DataDecoder();
    const chunk = Buffer.alloc(64 * 1024, "\r\n");
    let outputs = 0;
    for (let i = 0; i < 64; i++) {
      const r = decoder.push(chunk);
      expect(r.data.length).toBe(chunk.length);
      outputs++;
    }
    expect(outputs).toBe(64);
    expect(decoder.push(bytes(".\r\n")).done).toBe(true);
  });
});
