import { describe, expect, it } from "vitest";
import { NoMechanismError, SaslError, cleartextRefusal, negotiate, negotiationRecord, planNegotiation, type ChannelInfo, type NegotiationPolicy } from "../src/index.js";
import { ANON, CRAM, EXT, LOGIN, PLAIN, TOKEN } from "./fixtures.js";

const PLAIN_FIXTURE = PLAIN;
const CRAM_FIXTURE = CRAM;

const all = [PLAIN, LOGIN, CRAM, TOKEN, EXT, ANON];
const password = { username: "tim", password: "tanstaaftanstaaf" };
const tls: ChannelInfo = { secure: true };
const remoteClear: ChannelInfo = { secure: false, loopback: false };
const loopClear: ChannelInfo = { secure: false, loopback: true };

interface Row {
  name: string;
  offered: string[];
  channel?: ChannelInfo;
  creds?: Record<string, string>;
  policy?: NegotiationPolicy;
  chosen: string | null;
  order?: string[];
  refused?: Record<string, string>;
}

const table: Row[] = [
  { name: "strongest of PLAIN LOGIN CRAM-MD5 is CRAM-MD5", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], chosen: "CRAM-MD5", order: ["CRAM-MD5", "PLAIN", "LOGIN"] },
  { name: "server order does not matter", offered: ["LOGIN", "CRAM-MD5", "PLAIN"], chosen: "CRAM-MD5", order: ["CRAM-MD5", "PLAIN", "LOGIN"] },
  { name: "unknown names are refused as not installed", offered: ["GSSAPI", "NTLM", "PLAIN"], chosen: "PLAIN", refused: { GSSAPI: "not-installed", NTLM: "not-installed" } },
  { name: "names are case-insensitive", offered: ["plain", "Cram-Md5"], chosen: "CRAM-MD5", order: ["CRAM-MD5", "PLAIN"] },
  { name: "duplicates count once", offered: ["PLAIN", "PLAIN", "plain", "LOGIN"], chosen: "PLAIN", order: ["PLAIN", "LOGIN"] },
  { name: "tokens that only share a prefix are different", offered: ["PLAIN-CLIENTTOKEN", "XOAUTH"], chosen: null, refused: { "PLAIN-CLIENTTOKEN": "not-installed", XOAUTH: "not-installed" } },
  { name: "invalid tokens are dropped", offered: ["", "PL AIN", "THIS-NAME-IS-FAR-TOO-LONG", "LOGIN"], chosen: "LOGIN", order: ["LOGIN"] },
  { name: "forced mechanism wins over priority", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], policy: { force: "login" }, chosen: "LOGIN", order: ["LOGIN"], refused: { PLAIN: "not-forced", "CRAM-MD5": "not-forced" } },
  { name: "forced mechanism not offered", offered: ["PLAIN"], policy: { force: "CRAM-MD5" }, chosen: null, refused: { PLAIN: "not-forced", "CRAM-MD5": "not-offered" } },
  { name: "caller order replaces priority", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], policy: { order: ["LOGIN", "PLAIN"] }, chosen: "LOGIN", order: ["LOGIN", "PLAIN"], refused: { "CRAM-MD5": "not-forced" } },
  { name: "excluded mechanism", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], policy: { exclude: ["cram-md5"] }, chosen: "PLAIN", refused: { "CRAM-MD5": "excluded" } },
  { name: "cleartext to a remote host refuses PLAIN and LOGIN", offered: ["PLAIN", "LOGIN"], channel: remoteClear, chosen: null, refused: { PLAIN: "cleartext-password", LOGIN: "cleartext-password" } },
  { name: "cleartext to a remote host still allows CRAM-MD5", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], channel: remoteClear, chosen: "CRAM-MD5", order: ["CRAM-MD5"] },
  { name: "cleartext to loopback allows PLAIN by default", offered: ["PLAIN"], channel: loopClear, chosen: "PLAIN" },
  { name: "strict policy refuses PLAIN even on loopback", offered: ["PLAIN", "LOGIN"], channel: loopClear, policy: { cleartext: "never" }, chosen: null, refused: { PLAIN: "cleartext-password" } },
  { name: "caller may allow cleartext to a remote host", offered: ["PLAIN"], channel: remoteClear, policy: { cleartext: "allow" }, chosen: "PLAIN" },
  { name: "missing password refuses password mechanisms", offered: ["PLAIN", "CRAM-MD5"], creds: { username: "tim" }, chosen: null, refused: { PLAIN: "missing-credentials", "CRAM-MD5": "missing-credentials" } },
  { name: "token mechanism only with a token", offered: ["XTOKEN", "PLAIN"], chosen: "PLAIN", refused: { XTOKEN: "missing-credentials" } },
  { name: "token mechanism with a token", offered: ["XTOKEN", "PLAIN"], creds: { username: "tim", token: "t" }, chosen: "XTOKEN", order: ["XTOKEN"] },
  { name: "EXTERNAL only when asked for", offered: ["EXTERNAL", "PLAIN"], chosen: "PLAIN", refused: { EXTERNAL: "explicit-only" } },
  { name: "EXTERNAL when forced", offered: ["EXTERNAL", "PLAIN"], policy: { force: "EXTERNAL" }, chosen: "EXTERNAL" },
  // A mistyped force is no force at all would be a silent fallback to whatever is offered: nothing is chosen.
  { name: "a forced name that is not a SASL name chooses nothing", offered: ["PLAIN", "LOGIN", "CRAM-MD5"], policy: { force: "CRAM MD5" }, chosen: null, refused: { "CRAM MD5": "not-installed", PLAIN: "not-forced", "CRAM-MD5": "not-forced" } },
  { name: "an empty forced name chooses nothing, even with an order", offered: ["PLAIN", "LOGIN"], policy: { force: "", order: ["PLAIN"] }, chosen: null, refused: { PLAIN: "not-forced", LOGIN: "not-forced" } },
  { name: "ANONYMOUS refused with credentials", offered: ["ANONYMOUS", "PLAIN"], chosen: "PLAIN", refused: { ANONYMOUS: "unusable" } },
  { name: "ANONYMOUS without credentials", offered: ["ANONYMOUS", "PLAIN"], creds: {}, chosen: "ANONYMOUS", order: ["ANONYMOUS"] },
  { name: "nothing offered", offered: [], chosen: null },
];

describe("negotiation table", () => {
  for (const row of table) {
    it(row.name, () => {
      const plan = planNegotiation(all, { offered: row.offered, credentials: row.creds ?? password, channel: row.channel ?? tls, policy: row.policy ?? {} });
      expect(plan.candidates[0]?.name ?? null).toBe(row.chosen);
      if (row.order) expect(plan.candidates.map((p) => p.name)).toEqual(row.order);
      for (const [mech, reason] of Object.entries(row.refused ?? {})) {
        expect(plan.refused.find((r) => r.mechanism === mech)?.reason, mech).toBe(reason);
      }
      if (row.chosen === null) {
        expect(() => negotiate(all, { offered: row.offered, credentials: row.creds ?? password, channel: row.channel ?? tls, policy: row.policy ?? {} })).toThrow(NoMechanismError);
      }
    });
  }
});

describe("frozen offered lists", () => {
  it("plan the same as unfrozen ones, the first time and every time after", () => {
    for (const offered of [["PLAIN", "LOGIN", "CRAM-MD5"], ["plain", "Cram-Md5", "PLAIN", "PL AIN"], []]) {
      const frozen = Object.freeze([...offered]);
      const expected = planNegotiation(all, { offered, credentials: password, channel: tls });
      for (let i = 0; i < 3; i++) {
        const plan = planNegotiation(all, { offered: frozen, credentials: password, channel: tls });
        expect(plan.offered).toEqual(expected.offered);
        expect(plan.candidates.map((p) => p.name)).toEqual(expected.candidates.map((p) => p.name));
        expect(plan.refused).toEqual(expected.refused);
        expect(Object.isFrozen(plan.offered)).toBe(true);
      }
    }
  });
});

describe("registration order", () => {
  it("does not change the choice", () => {
    const orders = [all, [...all].reverse(), [ANON, CRAM, PLAIN, EXT, LOGIN, TOKEN]];
    const chosen = orders.map((list) => planNegotiation(list, { offered: ["PLAIN", "LOGIN", "CRAM-MD5"], credentials: password, channel: tls }).candidates.map((p) => p.name));
    expect(chosen[1]).toEqual(chosen[0]);
    expect(chosen[2]).toEqual(chosen[0]);
  });
});

describe("NoMechanismError", () => {
  it("names what was offered, what is installed and why each was refused", () => {
    let error: unknown;
    try {
      negotiate([PLAIN, LOGIN], { offered: ["PLAIN", "LOGIN", "GSSAPI"], credentials: password, channel: remoteClear });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NoMechanismError);
    const e = error as NoMechanismError;
    expect(e.code).toBe("no-mechanism");
    expect(e.offered).toEqual(["PLAIN", "LOGIN", "GSSAPI"]);
    expect(e.installed).toEqual(["PLAIN", "LOGIN"]);
    expect(e.message).toContain("GSSAPI (no mechanism package for it is registered)");
    expect(e.message).toContain("PLAIN (sends the secret in clear and the channel is not TLS to a non-loopback host)");
    expect(e.message).not.toContain("tanstaaf");
  });
});

describe("cleartextRefusal", () => {
  it.each([
    [undefined, { secure: true }, undefined],
    [undefined, { secure: false, loopback: true }, undefined],
    [undefined, { secure: false }, "the channel is not TLS to a non-loopback host"],
    ["loopback", { secure: false, loopback: false }, "the channel is not TLS to a non-loopback host"],
    ["never", { secure: false, loopback: true }, "the channel is not TLS (strict policy)"],
    ["never", { secure: true }, undefined],
    ["allow", { secure: false }, undefined],
  ] as const)("policy %s on %o: %s", (policy, channel, expected) => {
    expect(cleartextRefusal(policy, channel)).toBe(expected);
  });

  it("is the rule negotiation applies", () => {
    const plan = planNegotiation([PLAIN_FIXTURE], { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: false }, policy: { cleartext: "never" } });
    expect(plan.refused).toEqual([{ mechanism: "PLAIN", reason: "cleartext-password", explanation: `sends the secret in clear and ${cleartextRefusal("never", { secure: false })}` }]);
  });
});

describe("negotiationRecord", () => {
  it("records offered, installed, the plan by name, refusals, attempts and the chosen mechanism", () => {
    const plan = planNegotiation([PLAIN_FIXTURE, CRAM_FIXTURE], { offered: ["plain", "CRAM-MD5", "X-UNKNOWN"], credentials: { username: "u", password: "p" }, channel: { secure: true } });
    const failure = new SaslError("CRAM-MD5", "mechanism-rejected", "no.");
    const record = negotiationRecord(plan, [{ mechanism: "CRAM-MD5", error: failure }, { mechanism: "PLAIN" }], "PLAIN");
    expect(record).toEqual({
      offered: ["PLAIN", "CRAM-MD5", "X-UNKNOWN"],
      installed: ["CRAM-MD5", "PLAIN"],
      candidates: ["CRAM-MD5", "PLAIN"],
      refused: [{ mechanism: "X-UNKNOWN", reason: "not-installed", explanation: "no mechanism package for it is registered" }],
      attempts: [{ mechanism: "CRAM-MD5", error: failure }, { mechanism: "PLAIN" }],
      chosen: "PLAIN",
    });
    expect(record).not.toHaveProperty("login");
  });

  it("reports a protocol login separately, never as the chosen SASL mechanism", () => {
    const plan = planNegotiation([PLAIN_FIXTURE], { offered: [], credentials: { username: "u", password: "p" }, channel: { secure: true } });
    const record = negotiationRecord(plan, [], undefined, { command: "LOGIN", ok: true });
    expect(record).toMatchObject({ chosen: undefined, login: { command: "LOGIN", ok: true } });
  });

  it("has no chosen mechanism when nothing was tried", () => {
    const plan = planNegotiation([PLAIN_FIXTURE], { offered: ["PLAIN"], credentials: {}, channel: { secure: true } });
    expect(negotiationRecord(plan)).toMatchObject({ candidates: [], attempts: [], chosen: undefined });
  });
});
