import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { MechanismRegistry, SASL_MECHANISM, registerMechanism, normalizeMechanismName } from "../src/index.js";
import { CRAM, LOGIN, PLAIN, provider } from "./fixtures.js";

describe("MechanismRegistry", () => {
  it("resolves every provider registered in a child container, by priority", () => {
    const child = container.createChildContainer();
    registerMechanism(LOGIN, child);
    registerMechanism(PLAIN, child);
    registerMechanism(CRAM, child);
    expect(child.resolve(MechanismRegistry).names()).toEqual(["CRAM-MD5", "PLAIN", "LOGIN"]);
    expect(MechanismRegistry.fromContainer(child).names()).toEqual(["CRAM-MD5", "PLAIN", "LOGIN"]);
  });

  it("is empty for a container with nothing registered", () => {
    expect(MechanismRegistry.fromContainer(container.createChildContainer()).names()).toEqual([]);
    expect(container.createChildContainer().resolve(MechanismRegistry).names()).toEqual([]);
  });

  it("child containers isolate per-connection sets", () => {
    const a = container.createChildContainer();
    const b = container.createChildContainer();
    registerMechanism(PLAIN, a);
    registerMechanism(CRAM, b);
    expect(MechanismRegistry.from(a).names()).toEqual(["PLAIN"]);
    expect(MechanismRegistry.from(b).names()).toEqual(["CRAM-MD5"]);
  });

  it("accepts a plain list and looks names up case-insensitively", () => {
    const r = MechanismRegistry.from([PLAIN, LOGIN]);
    expect(r.get("plain")).toBe(PLAIN);
    expect(r.has("Cram-MD5")).toBe(false);
  });

  it("holds providers, so every exchange gets a fresh mechanism", () => {
    const r = MechanismRegistry.from([PLAIN]);
    const ctx = { credentials: undefined as never, channel: { secure: true }, offered: [], options: {} };
    expect(r.get("PLAIN")!.createClient(ctx)).not.toBe(r.get("PLAIN")!.createClient(ctx));
  });

  it("refuses two different providers under one name, and lower-case names", () => {
    expect(() => new MechanismRegistry([PLAIN, provider("PLAIN", 1)])).toThrow(/registered for PLAIN/);
    expect(() => new MechanismRegistry([provider("plain", 1)])).toThrow(/upper-case/);
    expect(new MechanismRegistry([PLAIN, PLAIN]).names()).toEqual(["PLAIN"]);
  });

  it("uses one global token", () => {
    expect(SASL_MECHANISM).toBe(Symbol.for("saslkit:mechanism"));
  });

  it("normalises mechanism names per RFC 4422", () => {
    expect(normalizeMechanismName(" scram-sha-256 ")).toBe("SCRAM-SHA-256");
    expect(normalizeMechanismName("A".repeat(21))).toBeUndefined();
    expect(normalizeMechanismName("X.Y")).toBeUndefined();
  });
});
