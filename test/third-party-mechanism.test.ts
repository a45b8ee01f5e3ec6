import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inspect } from "node:util";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { Credentials, MechanismRegistry, SaslError, authenticate, negotiate, pairedExchange, planNegotiation } from "@saslkit/core";
import { registerXHmac, xHmac } from "./fixtures/mech-x-hmac.js";
import { registerXOtp, xOtp } from "./fixtures/mech-x-otp.js";

describe("a mechanism written outside packages/", () => {
  const server = (password: string) =>
    xHmac.createServer!({ callbacks: { lookupPassword: (u) => (u === "tim" ? password : undefined) }, channel: { secure: true }, hostname: "mx.test", options: {} });

  it("registers through tsyringe and is chosen by priority, with no change to core", async () => {
    const child = container.createChildContainer();
    registerXHmac(child);
    const registry = child.resolve(MechanismRegistry);
    expect(registry.names()).toContain("X-HMAC-SHA256");
    const plan = planNegotiation(registry, { offered: ["X-HMAC-SHA256", "UNKNOWN"], credentials: { username: "tim", password: "pw" }, channel: { secure: true } });
    expect(plan.candidates.map((p) => p.name)).toEqual(["X-HMAC-SHA256"]);

    const exchange = pairedExchange(server("pw"));
    const result = await authenticate(plan, exchange);
    expect(result.mechanism).toBe("X-HMAC-SHA256");
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("fails on the server half with a wrong password", async () => {
    const plan = planNegotiation([xHmac], { offered: ["X-HMAC-SHA256"], credentials: { username: "tim", password: "wrong" }, channel: { secure: true } });
    const exchange = pairedExchange(server("pw"));
    await expect(authenticate(plan, exchange)).rejects.toMatchObject({ code: "authentication-failed", mechanism: "X-HMAC-SHA256" });
  });
});

describe("a third-party mechanism with a new kind of secret and a new server callback (X-OTP)", () => {
  const CODE = "492817";
  const server = (accept: string) =>
    xOtp.createServer!({ callbacks: { verifyOneTimeCode: (user, code) => user === "tim" && code === accept }, channel: { secure: true }, hostname: "mx.test", options: {} });

  it("negotiates on the new key and authenticates end to end through core", async () => {
    const credentials = Credentials.from({ username: "tim", oneTimeCode: CODE });
    const plan = negotiate([xOtp, xHmac], { offered: ["X-OTP", "X-HMAC-SHA256"], credentials, channel: { secure: true } });
    // X-HMAC needs a password, which was not given: refused by name of the missing key.
    expect(plan.refused).toEqual([{ mechanism: "X-HMAC-SHA256", reason: "missing-credentials", explanation: "needs password, which was not given" }]);
    const exchange = pairedExchange(server(CODE));
    const result = await authenticate(plan, exchange);
    expect(result.mechanism).toBe("X-OTP");
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
    expect(Buffer.from(exchange.sent[0] as Uint8Array).toString()).toBe(`tim\0${CODE}`);
  });

  it("is refused for a missing one-time code, named by its key", () => {
    const plan = planNegotiation([xOtp], { offered: ["X-OTP"], credentials: { username: "tim", password: "pw" }, channel: { secure: true } });
    expect(plan.refused).toEqual([{ mechanism: "X-OTP", reason: "missing-credentials", explanation: "needs oneTimeCode, which was not given" }]);
  });

  it("keeps the one-time code [redacted] in inspect, JSON and strings", () => {
    const credentials = Credentials.from({ username: "tim", oneTimeCode: CODE });
    const printed = [inspect(credentials), inspect({ deep: { credentials } }, { depth: 10 }), JSON.stringify(credentials), String(credentials), JSON.stringify({ credentials })].join("\n");
    expect(printed).not.toContain(CODE);
    expect(printed).toContain("tim");
    expect(JSON.parse(JSON.stringify(credentials))).toEqual({ username: "tim", oneTimeCode: "[redacted]" });
  });

  it("hands the code to the onSecret listener, also when it is prompted for lazily", async () => {
    const given: string[] = [];
    Credentials.from({ username: "tim", oneTimeCode: CODE }).onSecret((v) => given.push(v));
    expect(given).toEqual([CODE]);

    const prompted: string[] = [];
    const credentials = Credentials.from({ username: "tim", oneTimeCode: async () => CODE });
    credentials.onSecret((v) => prompted.push(v));
    expect(prompted).toEqual([]);
    const plan = negotiate([xOtp], { offered: ["X-OTP"], credentials, channel: { secure: true } });
    await authenticate(plan, pairedExchange(server(CODE)));
    expect(prompted).toEqual([CODE]);
  });

  it("never puts the code in the error of a refused login", async () => {
    const plan = negotiate([xOtp], { offered: ["X-OTP"], credentials: { username: "tim", oneTimeCode: CODE }, channel: { secure: true } });
    const error = await authenticate(plan, pairedExchange(server("000000"))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error).toMatchObject({ code: "authentication-failed", mechanism: "X-OTP", secretSent: true });
    expect([inspect(error, { depth: 10 }), JSON.stringify(error), String(error)].join("\n")).not.toContain(CODE);
  });

  it("registers through tsyringe like any package, with its server callback named", () => {
    const child = container.createChildContainer();
    registerXOtp(child);
    expect(MechanismRegistry.fromContainer(child).get("X-OTP")?.serverCallbacks).toEqual(["verifyOneTimeCode"]);
  });
});

describe("the README's \"Write your own mechanism\" guide", () => {
  it("shows test/fixtures/mech-x-otp.ts exactly, from its first import on", () => {
    const root = fileURLToPath(new URL("..", import.meta.url));
    const readme = readFileSync(`${root}README.md`, "utf8");
    const section = readme.slice(readme.indexOf("## Write your own mechanism"));
    const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    const fixture = readFileSync(`${root}test/fixtures/mech-x-otp.ts`, "utf8");
    expect(block).toBe(fixture.slice(fixture.indexOf("import {")));
  });
});
