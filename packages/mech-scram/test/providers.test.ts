/**
 * Providers: names, priorities, security properties, -PLUS usability, registration and negotiation.
 */
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { MechanismRegistry, PASSWORD, USERNAME, authenticate, negotiate, pairedExchange } from "@saslkit/core";
import type { ChannelInfo } from "@saslkit/core";
import { deriveScramKeys, registerScram, registerScramSha256, scramProviders, scramSha1, scramSha256, scramSha256Plus, scramSha512Plus } from "@saslkit/mech-scram";
import { clientContext, fakeBinding, serverContext } from "./helpers.js";

const ALL = ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS"];
const binding = fakeBinding({ "tls-exporter": new Uint8Array(32).fill(9) });

describe("providers", () => {
  it("have the project's fixed priorities", () => {
    expect(Object.fromEntries(scramProviders.map((p) => [p.name, p.priority]))).toEqual({
      "SCRAM-SHA-512-PLUS": 960,
      "SCRAM-SHA-256-PLUS": 950,
      "SCRAM-SHA-512": 860,
      "SCRAM-SHA-256": 850,
      "SCRAM-SHA-1-PLUS": 760,
      "SCRAM-SHA-1": 750,
    });
  });
  it("declare mutual auth, no cleartext secret, binding only for -PLUS, and need user and password", () => {
    for (const p of scramProviders) {
      expect(p.clientFirst).toBe(true);
      expect(p.security).toEqual({ sendsSecretInClear: false, mutualAuth: true, channelBinding: p.name.endsWith("-PLUS") });
      expect([...p.needs]).toEqual([USERNAME, PASSWORD]);
    }
  });
  it("-PLUS is unusable without binding data or when opted out; plain SCRAM is always usable", () => {
    expect(scramSha256Plus.usable?.(clientContext())).toMatch(/no channel-binding data/);
    expect(scramSha256Plus.usable?.(clientContext({ channel: { channelBinding: fakeBinding({}) } }))).toMatch(/no channel-binding data/);
    expect(scramSha256Plus.usable?.(clientContext({ channel: { channelBinding: binding } }))).toBeUndefined();
    expect(scramSha256Plus.usable?.(clientContext({ channel: { channelBinding: binding }, options: { scram: { channelBinding: false } } }))).toMatch(/turned off/);
    expect(scramSha256.usable?.(clientContext())).toBeUndefined();
  });
  it("each exchange gets a fresh client", () => {
    const ctx = clientContext();
    expect(scramSha1.createClient(ctx)).not.toBe(scramSha1.createClient(ctx));
  });
});

describe("registration and negotiation", () => {
  const channel = (withBinding: boolean): ChannelInfo => ({ secure: true, ...(withBinding ? { channelBinding: binding } : {}) });
  const credentials = { username: "user", password: "pencil" };

  it("registerScram registers all six into a child container; registerScramSha256 two", () => {
    const all = container.createChildContainer();
    registerScram(all);
    expect(MechanismRegistry.fromContainer(all).names()).toEqual(["SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"]);
    const two = container.createChildContainer();
    registerScramSha256(two);
    expect(MechanismRegistry.fromContainer(two).names()).toEqual(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]);
  });
  it("registration order never changes the choice", () => {
    const forward = negotiate([...scramProviders], { offered: ALL, credentials, channel: channel(true) });
    const backward = negotiate([...scramProviders].reverse(), { offered: [...ALL].reverse(), credentials, channel: channel(true) });
    expect(forward.candidates.map((p) => p.name)).toEqual(backward.candidates.map((p) => p.name));
    expect(forward.candidates[0]).toBe(scramSha512Plus);
  });
  it("without binding data -PLUS is refused as unusable and SCRAM-SHA-512 wins", () => {
    const plan = negotiate(scramProviders, { offered: ALL, credentials, channel: channel(false) });
    expect(plan.candidates.map((p) => p.name)).toEqual(["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"]);
    expect(plan.refused.filter((r) => r.reason === "unusable").map((r) => r.mechanism).sort()).toEqual(["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"]);
  });
  it("the opt-out removes -PLUS even when binding data exists", () => {
    const plan = negotiate(scramProviders, { offered: ALL, credentials, channel: channel(true), options: { scram: { channelBinding: false } } });
    expect(plan.candidates[0]?.name).toBe("SCRAM-SHA-512");
  });
  it("authenticate runs the negotiated SCRAM-SHA-256-PLUS against its server half", async () => {
    const plan = negotiate(scramProviders, { offered: ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"], credentials, channel: channel(true) });
    const chosen = plan.candidates[0];
    expect(chosen?.name).toBe("SCRAM-SHA-256-PLUS");
    const server = chosen!.createServer!(serverContext({ user: await deriveScramKeys("SHA-256", "pencil") }, { channel: { channelBinding: binding } }));
    const exchange = pairedExchange(server);
    const result = await authenticate(plan, exchange);
    expect(result).toMatchObject({ mechanism: "SCRAM-SHA-256-PLUS", rounds: 2 });
    expect(exchange.outcome).toEqual({ identity: { authcid: "user", authzid: "user" } });
  });
});
