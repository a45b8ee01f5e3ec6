import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { AUTHZID, Credentials, PASSWORD, SaslError, USERNAME, defineCredential, readPassword, requirePassword, type CredentialsInput } from "../src/index.js";

/** A secret of a kind core does not know, declared the way a mechanism family would declare it. */
const PIN = defineCredential("pin", { secret: true });
/** A public field a family declares (like ANONYMOUS's trace). */
const NOTE = defineCredential("note", { secret: false });

declare module "../src/index.js" {
  interface CredentialsInput {
    readonly pin?: string | (() => string | Promise<string>);
    readonly note?: string;
  }
}

const printed = (c: Credentials) => [inspect(c), inspect({ nested: { c } }, { depth: 10 }), JSON.stringify(c), String(c), `${c}`].join("\n");

describe("Credentials", () => {
  const secret = "s3cr3t-Päss";
  const pin = "pin-246810";

  it("never prints a password or any other secret field", () => {
    const c = Credentials.from({ username: "alice", password: secret, pin });
    const text = printed(c);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(pin);
    expect(text).toContain("alice");
    expect(text).toContain("[redacted]");
  });

  it("redacts a field no key declares: unknown means secret", () => {
    const input = { username: "alice", ticket: "krb5-ticket-value" } as CredentialsInput;
    const text = printed(Credentials.from(input));
    expect(text).not.toContain("krb5-ticket-value");
    expect(JSON.parse(JSON.stringify(Credentials.from(input)))).toEqual({ username: "alice", ticket: "[redacted]" });
  });

  it("prints identity fields and fields declared not secret", () => {
    expect(JSON.parse(JSON.stringify(Credentials.from({ username: "alice", authzid: "bob", note: "hello" })))).toEqual({ username: "alice", authzid: "bob", note: "hello" });
  });

  it("reveals secrets only through get, resolving functions lazily on every call", async () => {
    let calls = 0;
    const c = Credentials.from({ username: "alice", password: () => (calls++, Promise.resolve(secret)) });
    expect(calls).toBe(0);
    expect(c.has(PASSWORD)).toBe(true);
    expect(c.has(PIN)).toBe(false);
    await expect(c.get(PASSWORD)).resolves.toBe(secret);
    await expect(c.get(PASSWORD)).resolves.toBe(secret);
    expect(calls).toBe(2);
    await expect(c.get(PIN)).resolves.toBeUndefined();
    await expect(c.get(USERNAME)).resolves.toBe("alice");
  });

  it("passes the request to a function-valued field", async () => {
    const KEYED = defineCredential("keyed", { secret: true });
    const c = Credentials.from({ keyed: (r: unknown) => `for-${(r as { who: string }).who}` } as CredentialsInput);
    await expect(c.get(KEYED, { who: "x" })).resolves.toBe("for-x");
  });

  it("treats an empty authzid as none and an empty user name as absent", () => {
    expect(Credentials.from({ username: "a", authzid: "" }).authzid).toBeUndefined();
    expect(Credentials.from({ username: "a", authzid: "" }).has(AUTHZID)).toBe(false);
    expect(Credentials.from({ username: "" }).has(USERNAME)).toBe(false);
    expect(Credentials.from({ username: "" }).username).toBe("");
  });

  it("knows when nothing identifying was given", () => {
    expect(Credentials.from({}).isEmpty).toBe(true);
    expect(Credentials.from({ note: "me@example.org" }).isEmpty).toBe(true);
    expect(Credentials.from({ username: "x" }).isEmpty).toBe(false);
    expect(Credentials.from({ pin: "1" }).isEmpty).toBe(false);
  });

  it("hasSecret: any field not declared public, identity alone is not a secret", () => {
    expect(Credentials.from({ username: "a", authzid: "b", note: "n" }).hasSecret).toBe(false);
    expect(Credentials.from({ username: "a", password: "p" }).hasSecret).toBe(true);
    expect(Credentials.from({ pin: "1" }).hasSecret).toBe(true);
    expect(Credentials.from({ unknownField: "x" } as CredentialsInput).hasSecret).toBe(true);
  });

  it("a key with a fallback is satisfied, and answered, by the fallback's field", async () => {
    const SOURCE = defineCredential("pinSource", { secret: true });
    const PIN_OR_SOURCE = defineCredential("pinOrSource", { secret: true, fallback: SOURCE });
    const viaSource = Credentials.from({ pinSource: (r: unknown) => `from-source-${String(r)}` } as CredentialsInput);
    expect(viaSource.has(PIN_OR_SOURCE)).toBe(true);
    await expect(viaSource.get(PIN_OR_SOURCE, "req")).resolves.toBe("from-source-req");
    const own = Credentials.from({ pinOrSource: "own", pinSource: () => "unused" } as CredentialsInput);
    await expect(own.get(PIN_OR_SOURCE)).resolves.toBe("own");
    expect(Credentials.from({}).has(PIN_OR_SOURCE)).toBe(false);
    expect(() => defineCredential("pinOrSource", { secret: true })).toThrow(/already defined/);
  });

  describe("onSecret", () => {
    it("hands every known secret to a new listener at once, never identity", () => {
      const seen: string[] = [];
      Credentials.from({ username: "alice", authzid: "bob", password: secret, pin, note: "public" }).onSecret((v) => seen.push(v));
      expect(seen.sort()).toEqual([secret, pin].sort());
    });

    it("reports a lazily resolved secret when it is revealed, once", async () => {
      const seen: string[] = [];
      const c = Credentials.from({ username: "alice", password: () => secret, pin: async () => pin });
      c.onSecret((v) => seen.push(v));
      expect(seen).toEqual([]);
      await c.get(PASSWORD);
      await c.get(PASSWORD);
      await c.get(PIN);
      expect(seen).toEqual([secret, pin]);
    });

    it("stops after unsubscribe, and a throwing listener breaks nothing", async () => {
      const seen: string[] = [];
      const c = Credentials.from({ password: () => secret });
      c.onSecret(() => {
        throw new Error("logger down");
      });
      const off = c.onSecret((v) => seen.push(v));
      off();
      await expect(c.get(PASSWORD)).resolves.toBe(secret);
      expect(seen).toEqual([]);
    });
  });

  describe("defineCredential", () => {
    it("returns the same key for the same name and flag", () => {
      expect(defineCredential("pin", { secret: true })).toBe(PIN);
    });

    it("refuses to redefine a name with the other secret flag", () => {
      expect(() => defineCredential("password", { secret: false })).toThrow(/already defined with secret: true/);
    });
  });
});

describe("Credentials redaction, property-based", () => {
  it("no value of a field not declared public ever appears when printed, whatever its name", async () => {
    const fc = (await import("fast-check")).default;
    const name = fc.stringMatching(/^[a-z][A-Za-z0-9]{0,15}$/).filter((n) => !["username", "authzid", "note", "__proto__", "constructor"].includes(n));
    const secret = fc.string({ minLength: 1, maxLength: 40 }).map((s) => `S3cr3t-${s}`);
    fc.assert(
      fc.property(fc.dictionary(name, secret, { minKeys: 1, maxKeys: 6 }), (fields) => {
        const c = Credentials.from({ username: "alice", ...fields } as CredentialsInput);
        const text = printed(c);
        for (const value of Object.values(fields)) expect(text.includes(value)).toBe(false);
        const seen: string[] = [];
        c.onSecret((v) => seen.push(v));
        expect(new Set(seen)).toEqual(new Set(Object.values(fields)));
      }),
      { numRuns: 200 },
    );
  });
});

describe("readPassword", () => {
  it("answers without a promise for a password given as a value, and reports it to onSecret", () => {
    const c = Credentials.from({ username: "alice", password: "pass\u00A0word" });
    const seen: string[] = [];
    c.onSecret((v) => seen.push(v));
    expect(readPassword(c, "M")).toBe("pass\u00A0word");
    expect(readPassword(c, "M", "saslprep")).toBe("pass word");
    expect(seen).toEqual(["pass\u00A0word"]);
  });

  it("answers with a promise for a password given as a function, reporting the value it yields", async () => {
    const c = Credentials.from({ username: "alice", password: async () => "prompted-secret" });
    const seen: string[] = [];
    c.onSecret((v) => seen.push(v));
    const read = readPassword(c, "M");
    expect(read).toBeInstanceOf(Promise);
    await expect(read).resolves.toBe("prompted-secret");
    expect(seen).toEqual(["prompted-secret"]);
  });

  it("refuses a missing password as requirePassword does: synchronously for values, as a rejection for functions", async () => {
    expect(() => readPassword(Credentials.from({ username: "alice" }), "M")).toThrow(new SaslError("M", "missing-credentials", "a password is required."));
    await expect(readPassword(Credentials.from({ password: () => undefined as unknown as string }), "M")).rejects.toMatchObject({ code: "missing-credentials" });
    await expect(requirePassword(Credentials.from({ username: "alice" }), "M")).rejects.toMatchObject({ code: "missing-credentials" });
  });
});

describe("a password function that yields no string (review round 5)", () => {
  it.each([[12345678], [null], [{ password: "x" }]])("yields %j: invalid-credentials-input, never a value a mechanism would send unmasked", async (value) => {
    const credentials = Credentials.from({ username: "alice", password: (() => value) as never });
    const seen: string[] = [];
    credentials.onSecret((s) => seen.push(s));
    const error = await credentials.get(PASSWORD).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe("invalid-credentials-input");
    expect(seen).toEqual([]);
  });
});
