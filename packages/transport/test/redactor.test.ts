import { describe, expect, it } from "vitest";
import { Redactor } from "../src/index.js";

describe("Redactor", () => {
  it("masks every secret it was given, wherever it appears", () => {
    const r = new Redactor();
    r.add("AGFsaWNlAHMzY3IzdA==");
    r.add("s3cr3t-pass");
    expect(r.scrub("535 5.7.8 bad AGFsaWNlAHMzY3IzdA== (s3cr3t-pass, s3cr3t-pass)")).toBe("535 5.7.8 bad **** (****, ****)");
    expect(r.size).toBe(2);
  });

  it("ignores secrets too short to mask safely, and leaves other text alone", () => {
    const r = new Redactor();
    r.add("=");
    r.add("abc");
    expect(r.size).toBe(0);
    expect(r.scrub("OK abc = done")).toBe("OK abc = done");
  });
});
