import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Credentials } from "../src/index.js";

describe("Credentials", () => {
  const secret = "s3cr3t-Päss";
  const token = "ya29.TOKEN-VALUE";

  it("never prints a password or token", () => {
    const c = Credentials.from({ username: "alice", password: secret, token });
    const printed = [inspect(c), inspect({ nested: { c } }, { depth: 10 }), JSON.stringify(c), String(c), `${c}`].join("\n");
    expect(printed).not.toContain(secret);
    expect(printed).not.toContain(token);
    expect(printed).toContain("alice");
    expect(printed).toContain("[redacted]");
  });

  it("reveals secrets only through the accessors", async () => {
    const c = Credentials.from({ username: "alice", password: () => Promise.resolve(secret) });
    expect(c.has("password")).toBe(true);
    expect(c.has("token")).toBe(false);
    await expect(c.password()).resolves.toBe(secret);
  });

  it("treats an empty authzid as none", () => {
    expect(Credentials.from({ username: "a", authzid: "" }).authzid).toBeUndefined();
  });

  it("refreshes a token at most once", async () => {
    const calls: boolean[] = [];
    const c = Credentials.from({ username: "a", token: "old", tokenProvider: ({ refresh }) => (calls.push(refresh), "new") });
    await expect(c.token()).resolves.toBe("old");
    expect(c.canRefreshToken).toBe(true);
    await expect(c.token({ refresh: true })).resolves.toBe("new");
    expect(c.canRefreshToken).toBe(false);
    await expect(c.token({ refresh: true })).resolves.toBeUndefined();
    expect(calls).toEqual([true]);
  });

  it("knows when nothing identifying was given", () => {
    expect(Credentials.from({}).isEmpty).toBe(true);
    expect(Credentials.from({ trace: "me@example.org" }).isEmpty).toBe(true);
    expect(Credentials.from({ username: "x" }).isEmpty).toBe(false);
  });
});
