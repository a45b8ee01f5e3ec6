import { describe, expect, it } from "vitest";
import { Credentials, SaslError, planNegotiation, prepareCredential, requirePassword, requireUsername, saslprep } from "../src/index.js";
import { PLAIN } from "./fixtures.js";

describe("credential preparation (SASLprep opt-in)", () => {
  it("saslprep maps per RFC 4013: soft hyphen removed, non-ASCII space to space", () => {
    expect(saslprep("I\u00ADX", "the username", "X")).toBe("IX");
    expect(saslprep("pass\u00A0word", "the password", "X")).toBe("pass word");
    expect(saslprep("\u2168", "the password", "X")).toBe("IX");
  });

  it("refuses prohibited characters without echoing the value", () => {
    const error = (() => {
      try {
        saslprep("secret\u0007bell", "the password", "PLAIN");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(SaslError);
    expect(error).toMatchObject({ code: "invalid-credentials-input", mechanism: "PLAIN" });
    expect((error as Error).message).toBe("PLAIN: the password is not allowed by SASLprep: it contains a prohibited character (RFC 4013 §2.3).");
    expect((error as Error).message).not.toContain("secret");
  });

  it("refuses unassigned code points only under stored-string rules", () => {
    expect(saslprep("a\u0221", "the password", undefined)).toBe("a\u0221");
    expect(() => saslprep("a\u0221", "the password", undefined, { stored: true })).toThrow(/unassigned/);
  });

  it("refuses a value that prepares to nothing", () => {
    expect(() => saslprep("\u00AD", "the password", "X")).toThrow(/empty/);
  });

  it("prepareCredential leaves values as given unless asked (off by default)", () => {
    expect(prepareCredential("pass\u00A0word", undefined, "the password")).toBe("pass\u00A0word");
    expect(prepareCredential("pass\u00A0word", "none", "the password")).toBe("pass\u00A0word");
    expect(prepareCredential("pass\u00A0word", "saslprep", "the password")).toBe("pass word");
  });

  it("requireUsername and requirePassword apply the preparation they are given", async () => {
    const c = Credentials.from({ username: "I\u00ADX", password: "pass\u00A0word" });
    expect(requireUsername(c, "M")).toBe("I\u00ADX");
    expect(requireUsername(c, "M", "saslprep")).toBe("IX");
    await expect(requirePassword(c, "M")).resolves.toBe("pass\u00A0word");
    await expect(requirePassword(c, "M", "saslprep")).resolves.toBe("pass word");
  });

  it("negotiation hands the caller's choice to the mechanisms' context", () => {
    const input = { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: true } };
    expect(planNegotiation([PLAIN], input).context.prepare).toBeUndefined();
    expect(planNegotiation([PLAIN], { ...input, prepare: "saslprep" }).context.prepare).toBe("saslprep");
  });
});
