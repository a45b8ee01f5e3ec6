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

describe("Redactor: forms derived when first needed", () => {
  it("masks every form of a secret registered before the text, however late it is redacted", () => {
    const r = new Redactor();
    const bytes = new TextEncoder().encode("pässword-42");
    r.addSecret(bytes);
    r.addPayload(Buffer.from("\0alice\0pässword-42").toString("base64"));
    bytes.fill(0); // the caller reuses its buffer: the redactor kept its own copy
    const secret = Buffer.from("pässword-42");
    for (const form of [secret.toString("utf8"), secret.toString("latin1"), secret.toString("base64"), secret.toString("base64url"), secret.toString("hex"), secret.toString("hex").toUpperCase()]) {
      expect(r.redact(`535 echo ${form} end`)).toBe("535 echo **** end");
    }
    expect(r.redact(`535 ${Buffer.from("\0alice\0pässword-42").toString("base64")}`)).toBe("535 ****");
  });

  it("learns a secret added after an earlier redaction", () => {
    const r = new Redactor();
    r.addSecret("first-secret");
    expect(r.redact("echo first-secret")).toBe("echo ****");
    r.addSecret("second-secret");
    expect(r.redact("echo second-secret and first-secret")).toBe("echo **** and ****");
  });

  it("counts the derived forms in size, and a secret registered twice once", () => {
    const once = new Redactor();
    once.addSecret("hunter2-long");
    const twice = new Redactor();
    twice.addSecret("hunter2-long");
    twice.addSecret("hunter2-long");
    expect(once.size).toBeGreaterThan(5);
    expect(twice.size).toBe(once.size);
  });
});

describe("Redactor: the escaped forms a server or a log may show a secret in (review round 3)", () => {
  const secret = 'p@ss w0rd/"é\\=x';
  const forms: Record<string, string> = {
    "percent-encoded (upper-case hex)": "p%40ss%20w0rd%2F%22%C3%A9%5C%3Dx",
    "percent-encoded (lower-case hex)": "p%40ss%20w0rd%2f%22%c3%a9%5c%3dx",
    "form-encoded (space as +)": "p%40ss+w0rd%2F%22%C3%A9%5C%3Dx",
    "quoted-printable": 'p@ss w0rd/"=C3=A9\\=3Dx',
    'backslash-quoted (IMAP quoted string, JSON)': 'p@ss w0rd/\\"é\\\\=x',
  };
  for (const [name, form] of Object.entries(forms)) {
    it(`masks the ${name} form`, () => {
      const r = new Redactor();
      r.addSecret(secret);
      expect(r.redact(`-ERR [AUTH] echo ${form} end`)).toBe("-ERR [AUTH] echo **** end");
    });
  }
});

describe("the redactor's percent-encoded forms", () => {
  it("masks a secret as application/x-www-form-urlencoded (URLSearchParams) and RFC 3986 strict encoders write it: ! ' ( ) ~ * encoded too", () => {
    const secret = "Tr0ub4dor&3!'(x)~*y";
    const r = new Redactor();
    r.addSecret(secret);
    const strict = encodeURIComponent(secret).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    for (const form of [new URLSearchParams({ p: secret }).toString().slice(2), strict, strict.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())]) {
      expect(r.redact(`x ${form} y`), form).toBe("x **** y");
    }
  });
});
