import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
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

  it("an empty child container is an empty set, even when its parent holds mechanisms", () => {
    const parent = container.createChildContainer();
    registerMechanism(PLAIN, parent);
    registerMechanism(CRAM, parent);
    const child = parent.createChildContainer();
    expect(MechanismRegistry.fromContainer(child).names()).toEqual([]);
    expect(MechanismRegistry.from(child).names()).toEqual([]);
    expect(child.resolve(MechanismRegistry).names()).toEqual([]);
    expect(parent.resolve(MechanismRegistry).names()).toEqual(["CRAM-MD5", "PLAIN"]);
  });

  it("a child container's set is what was registered in it, not its parent's in addition", () => {
    const parent = container.createChildContainer();
    registerMechanism(PLAIN, parent);
    registerMechanism(CRAM, parent);
    const child = parent.createChildContainer();
    registerMechanism(LOGIN, child);
    expect(MechanismRegistry.fromContainer(child).names()).toEqual(["LOGIN"]);
    expect(child.resolve(MechanismRegistry).names()).toEqual(["LOGIN"]);
    // ...and registering in the child does not change the parent.
    expect(MechanismRegistry.fromContainer(parent).names()).toEqual(["CRAM-MD5", "PLAIN"]);
  });

  it("the root container is used when no container is named", () => {
    const name = "X-ROOT-ONLY";
    registerMechanism(provider(name, 1));
    expect(MechanismRegistry.from().has(name)).toBe(true);
    expect(MechanismRegistry.fromContainer(container).has(name)).toBe(true);
    expect(MechanismRegistry.from(container.createChildContainer()).has(name)).toBe(false);
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

describe("DI without ceremony (built packages, a fresh Node process)", () => {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const built = existsSync(`${root}packages/core/dist/index.js`) && existsSync(`${root}packages/mech-plain/dist/index.js`);
  const run = (script: string) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--input-type=module", "-e", script], { cwd: root, timeout: 20_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim()))),
    );

  it.skipIf(!built)("a plain list of providers needs no reflect-metadata, no decorators and leaves Reflect untouched", async () => {
    const out = await run(`
      const before = typeof Reflect.getMetadata;
      const { authenticate, negotiate, pairedExchange } = await import("@saslkit/core");
      const { plain } = await import("@saslkit/mech-plain");
      const after = typeof Reflect.getMetadata;
      const server = plain.createServer({ callbacks: { verifyPassword: (u, p) => u === "u" && p === "p" }, channel: { secure: true }, hostname: "h", options: {} });
      const result = await authenticate(negotiate([plain], { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: true } }), pairedExchange(server));
      console.log(JSON.stringify({ before, after, mechanism: result.mechanism, tsyringe: typeof globalThis.Reflect?.defineMetadata }));
    `);
    expect(JSON.parse(out)).toEqual({ before: "undefined", after: "undefined", mechanism: "PLAIN", tsyringe: "undefined" });
  });

  it.skipIf(!built)("the root container, when asked for, is loaded with its polyfill by core", async () => {
    const out = await run(`
      const { MechanismRegistry } = await import("@saslkit/core");
      const { registerPlain } = await import("@saslkit/mech-plain");
      registerPlain();
      console.log(JSON.stringify({ names: MechanismRegistry.from().names(), reflect: typeof Reflect.getMetadata }));
    `);
    expect(JSON.parse(out)).toEqual({ names: ["PLAIN"], reflect: "function" });
  });
});
