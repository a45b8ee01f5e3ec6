/**
 * SASLprep (RFC 4013 §3 examples, vectors.md §6) on user names and passwords.
 */
import { describe, expect, it } from "vitest";
import { SaslError, utf8 } from "@saslkit/core";
import { ScramClient, prepareScramPassword } from "@saslkit/mech-scram";
import { clientContext, text } from "./helpers.js";

const NONCE = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";

describe("RFC 4013 §3 examples", () => {
  const ok: [string, string, string][] = [
    ["1", "I\u00ADX", "IX"],
    ["2", "user", "user"],
    ["3", "USER", "USER"],
    ["4", "\u00AA", "a"],
    ["5", "\u2168", "IX"],
    ["non-ASCII space", "a\u00A0b", "a b"],
  ];
  it.each(ok)("#%s %j prepares to %j", (_n, input, output) => {
    expect(prepareScramPassword(input)).toBe(output);
  });

  it("#6 U+0007 is a prohibited character", () => {
    expect(() => prepareScramPassword("\u0007")).toThrow(/prohibited character/);
  });
  it("#7 U+0627 U+0031 fails the bidirectional check", () => {
    expect(() => prepareScramPassword("\u0627\u0031")).toThrow(/bidirectional check/);
  });
  it("a string that maps to nothing is empty after preparation", () => {
    expect(() => prepareScramPassword("\u00AD")).toThrow(/empty/);
  });
  it("unassigned code points pass as a query, fail as a stored string", () => {
    expect(prepareScramPassword("\u0221")).toBe("\u0221");
    expect(() => prepareScramPassword("\u0221", { stored: true })).toThrow(/unassigned/);
  });
});

describe("the client prepares user name and password", () => {
  const clientFinal = async (username: string, password: string) => {
    const c = new ScramClient(clientContext({ credentials: { username, password } }), { hash: "SHA-1", nonce: NONCE });
    const first = text(await c.start());
    return { first, final: text(await c.step(utf8(SERVER_FIRST))) };
  };

  it("U+2168 and I<U+00AD>X give the same proof as IX; the user name is prepared too", async () => {
    const plain = await clientFinal("IX", "IX");
    const roman = await clientFinal("\u2168", "\u2168");
    const hyphen = await clientFinal("I\u00ADX", "I\u00ADX");
    expect(roman).toEqual(plain);
    expect(hyphen).toEqual(plain);
    expect(plain.first).toBe(`n,,n=IX,r=${NONCE}`);
  });

  for (const [label, bad] of [
    ["prohibited", "pa\u0007ss"],
    ["bidi", "\u0627\u0031"],
    ["empty after mapping", "\u00AD"],
  ] as const) {
    it(`a ${label} password is invalid-credentials-input, and the message does not echo it`, async () => {
      const c = new ScramClient(clientContext({ credentials: { username: "user", password: bad } }), { hash: "SHA-256" });
      const error = (await c.start().catch((e: unknown) => e)) as SaslError;
      expect(error).toBeInstanceOf(SaslError);
      expect(error.code).toBe("invalid-credentials-input");
      expect(error.message).toMatch(/^SCRAM-SHA-256: the password /);
      expect(error.message).not.toContain(bad);
      expect(error.cause).toBeUndefined();
    });
  }

  it("a prohibited user name is invalid-credentials-input naming the user name", async () => {
    const c = new ScramClient(clientContext({ credentials: { username: "us\u0007er", password: "pencil" } }), { hash: "SHA-256" });
    await expect(c.start()).rejects.toMatchObject({ code: "invalid-credentials-input", message: expect.stringMatching(/the user name is not allowed by SASLprep/) });
  });
});
