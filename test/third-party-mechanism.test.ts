import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { MechanismRegistry, authenticate, pairedExchange, planNegotiation } from "@saslkit/core";
import { registerXHmac, xHmac } from "./fixtures/mech-x-hmac.js";

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
