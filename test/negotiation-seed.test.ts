// The seed mechanisms as shipped: their declared priorities and properties drive the choice.
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { MechanismRegistry, authenticate, pairedExchange, planNegotiation, type ChannelInfo, type NegotiationPolicy } from "@saslkit/core";
import { cramMd5, registerCramMd5 } from "@saslkit/mech-cram-md5";
import { login, registerLogin } from "@saslkit/mech-login";
import { plain, registerPlain } from "@saslkit/mech-plain";

const seed = [plain, login, cramMd5];
const creds = { username: "tim", password: "tanstaaftanstaaf" };
const choose = (offered: string[], channel: ChannelInfo = { secure: true }, policy: NegotiationPolicy = {}, credentials: object = creds) =>
  planNegotiation(seed, { offered, credentials, channel, policy }).candidates.map((p) => p.name);

describe("negotiation among the seed mechanisms", () => {
  it.each([
    [["PLAIN", "LOGIN", "CRAM-MD5"], ["CRAM-MD5", "PLAIN", "LOGIN"]],
    [["login", "plain"], ["PLAIN", "LOGIN"]],
    [["LOGIN", "XOAUTH", "PLAIN-CLIENTTOKEN"], ["LOGIN"]],
    [["CRAM-MD5", "CRAM-MD5", "cram-md5"], ["CRAM-MD5"]],
  ])("offered %j → %j", (offered, expected) => {
    expect(choose(offered)).toEqual(expected);
  });

  it("a forced, an ordered and an excluded mechanism", () => {
    expect(choose(["PLAIN", "LOGIN", "CRAM-MD5"], undefined, { force: "LOGIN" })).toEqual(["LOGIN"]);
    expect(choose(["PLAIN", "LOGIN", "CRAM-MD5"], undefined, { order: ["LOGIN", "CRAM-MD5"] })).toEqual(["LOGIN", "CRAM-MD5"]);
    expect(choose(["PLAIN", "LOGIN", "CRAM-MD5"], undefined, { exclude: ["CRAM-MD5", "LOGIN"] })).toEqual(["PLAIN"]);
  });

  it("the cleartext policy keeps PLAIN and LOGIN off remote cleartext channels, not CRAM-MD5", () => {
    expect(choose(["PLAIN", "LOGIN", "CRAM-MD5"], { secure: false, loopback: false })).toEqual(["CRAM-MD5"]);
    expect(choose(["PLAIN", "LOGIN"], { secure: false, loopback: true })).toEqual(["PLAIN", "LOGIN"]);
    expect(choose(["PLAIN", "LOGIN"], { secure: false, loopback: true }, { cleartext: "never" })).toEqual([]);
  });

  it("missing credentials leave nothing", () => {
    expect(choose(["PLAIN", "LOGIN", "CRAM-MD5"], undefined, {}, { username: "tim" })).toEqual([]);
  });

  it("registration order in a container does not change the choice", () => {
    const a = container.createChildContainer();
    registerPlain(a);
    registerLogin(a);
    registerCramMd5(a);
    const b = container.createChildContainer();
    registerCramMd5(b);
    registerLogin(b);
    registerPlain(b);
    const names = (c: typeof a) => planNegotiation(c.resolve(MechanismRegistry), { offered: ["LOGIN", "PLAIN", "CRAM-MD5"], credentials: creds, channel: { secure: true } }).candidates.map((p) => p.name);
    expect(names(a)).toEqual(names(b));
  });

  it.each(["PLAIN", "LOGIN", "CRAM-MD5"])("%s runs client against server through the session driver", async (name) => {
    const provider = seed.find((p) => p.name === name)!;
    const server = provider.createServer!({
      callbacks: { verifyPassword: (u, p) => u === "tim" && p === creds.password, lookupPassword: (u) => (u === "tim" ? creds.password : undefined) },
      channel: { secure: true },
      hostname: "mx.test",
      options: {},
    });
    const exchange = pairedExchange(server);
    const result = await authenticate(planNegotiation(seed, { offered: [name], credentials: creds, channel: { secure: true } }), exchange);
    expect(result.mechanism).toBe(name);
    expect(exchange.outcome?.identity?.authcid).toBe("tim");
  });
});
