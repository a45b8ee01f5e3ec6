import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { Credentials, MechanismRegistry, pairedExchange, planNegotiation, runExchange, utf8 } from "@saslkit/core";
import type { ClientContext, CredentialsInput, ServerCallbacks, ServerContext } from "@saslkit/core";
import { AnonymousClient, AnonymousServer, anonymous, registerAnonymous } from "@saslkit/mech-anonymous";
import { MAX_TRACE_CHARACTERS } from "../src/anonymous.js";

// RFC 4505 §4 example: `C: A002 AUTHENTICATE ANONYMOUS` / `S: +` / `C: c2lyaGM=` (trace "sirhc").
const RFC_TRACE = "sirhc";
const RFC_RESPONSE = "c2lyaGM=";

const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array(0)).toString("base64");

function clientContext(input: CredentialsInput = {}): ClientContext {
  return { credentials: Credentials.from(input), channel: { secure: true }, offered: ["ANONYMOUS"], options: {} };
}

function serverContext(callbacks: ServerCallbacks = {}): ServerContext {
  return { callbacks, channel: { secure: true }, hostname: "imap.example.com", options: {} };
}

describe("ANONYMOUS client", () => {
  it("RFC 4505 §4: sends the trace byte for byte, completes, then refuses a step", async () => {
    const client = new AnonymousClient(clientContext({ trace: RFC_TRACE }));
    expect(b64(await client.start())).toBe(RFC_RESPONSE);
    expect(client.complete).toBe(true);
    client.finish(null);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state", mechanism: "ANONYMOUS" }));
  });

  it("sends an EMPTY initial response (not null) without a trace", async () => {
    const ir = await new AnonymousClient(clientContext()).start();
    expect(ir).not.toBeNull();
    expect(ir).toBeInstanceOf(Uint8Array);
    expect(ir.length).toBe(0);
  });

  it("counts the 255-character limit in characters, not octets", async () => {
    const astral = "𝄞".repeat(MAX_TRACE_CHARACTERS); // 255 characters, 1020 octets, 510 UTF-16 units
    expect((await new AnonymousClient(clientContext({ trace: astral })).start()).length).toBe(1020);
    expect((await new AnonymousClient(clientContext({ trace: "a".repeat(255) })).start()).length).toBe(255);
  });

  it("refuses a trace of 256 characters with invalid-credentials-input", async () => {
    await expect((async () => new AnonymousClient(clientContext({ trace: "a".repeat(256) })).start())()).rejects.toThrow(
      expect.objectContaining({ code: "invalid-credentials-input", message: "ANONYMOUS: the trace has 256 characters; RFC 4505 allows at most 255." }),
    );
    await expect((async () => new AnonymousClient(clientContext({ trace: "é".repeat(256) })).start())()).rejects.toThrow(expect.objectContaining({ code: "invalid-credentials-input" }));
  });

  it("refuses a trace with a lone surrogate (it has no UTF-8 form)", async () => {
    await expect((async () => new AnonymousClient(clientContext({ trace: "x\udc00" })).start())()).rejects.toThrow(expect.objectContaining({ code: "invalid-credentials-input" }));
  });

  it("refuses calls out of order", async () => {
    const client = new AnonymousClient(clientContext());
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "bad-state" }));
    await client.start();
    await expect((async () => client.start())()).rejects.toThrow(expect.objectContaining({ code: "bad-state" }));
  });
});

describe("ANONYMOUS server", () => {
  it("refuses by default", async () => {
    expect(await new AnonymousServer(serverContext()).start(utf8(RFC_TRACE))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("admits when acceptAnonymous says so, as the identity anonymous, and hands it the trace", async () => {
    const traces: string[] = [];
    const server = new AnonymousServer(serverContext({ acceptAnonymous: (t) => (traces.push(t), true) }));
    expect(await server.start(Buffer.from(RFC_RESPONSE, "base64"))).toEqual({ type: "success", identity: { authcid: "anonymous", authzid: "anonymous" } });
    expect(traces).toEqual([RFC_TRACE]);
    await expect(server.step(new Uint8Array(0))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("refuses when acceptAnonymous says no", async () => {
    expect(await new AnonymousServer(serverContext({ acceptAnonymous: async () => false })).start(new Uint8Array(0))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("RFC 4505 §4 flow: no initial response, an empty challenge, then the trace", async () => {
    const server = new AnonymousServer(serverContext({ acceptAnonymous: () => true }));
    expect(await server.start(null)).toEqual({ type: "challenge", data: new Uint8Array(0) });
    expect(await server.step(Buffer.from(RFC_RESPONSE, "base64"))).toMatchObject({ type: "success" });
  });

  it.each<[string, Uint8Array]>([
    ["invalid UTF-8", Uint8Array.of(0xff)],
    ["256 characters", utf8("a".repeat(256))],
  ])("refuses a trace with %s before asking the callback", async (_case, bytes) => {
    let asked = false;
    const step = await new AnonymousServer(serverContext({ acceptAnonymous: () => ((asked = true), true) })).start(bytes);
    expect(step).toMatchObject({ type: "failure", code: "invalid-response" });
    expect(asked).toBe(false);
  });
});

describe("ANONYMOUS client against the server half", () => {
  it("runs through runExchange with the RFC trace", async () => {
    const exchange = pairedExchange(new AnonymousServer(serverContext({ acceptAnonymous: (t) => t === RFC_TRACE })));
    expect(await runExchange(anonymous.createClient(clientContext({ trace: RFC_TRACE })), exchange)).toBe(0);
    expect(exchange.sent.map(b64)).toEqual([RFC_RESPONSE]);
    expect(exchange.outcome).toEqual({ identity: { authcid: "anonymous", authzid: "anonymous" } });
  });

  it("a refusing server ends in authentication-failed", async () => {
    const exchange = pairedExchange(new AnonymousServer(serverContext()));
    await expect(runExchange(new AnonymousClient(clientContext()), exchange)).rejects.toMatchObject({ code: "authentication-failed", mechanism: "ANONYMOUS" });
  });
});

describe("ANONYMOUS provider", () => {
  it("declares the project's descriptor", async () => {
    expect(anonymous).toMatchObject({
      name: "ANONYMOUS",
      priority: 50,
      clientFirst: true,
      needs: [],
      security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
    });
    expect(anonymous.explicitOnly).toBeFalsy();
  });

  it.each<[string, CredentialsInput]>([
    ["a user name", { username: "alice" }],
    ["a password", { password: "pw" }],
    ["a token", { token: "t" }],
    ["a token provider", { tokenProvider: () => "t" }],
  ])("is unusable when %s is given", (_case, credentials) => {
    const plan = planNegotiation([anonymous], { offered: ["ANONYMOUS"], credentials, channel: { secure: true } });
    expect(plan.candidates).toEqual([]);
    expect(plan.refused).toEqual([
      { mechanism: "ANONYMOUS", reason: "unusable", explanation: "ANONYMOUS is used only when no credentials are given" },
    ]);
  });

  it("is usable with no credentials, or only a trace, even without TLS", async () => {
    for (const credentials of [{}, { trace: "guest@example.com" }]) {
      expect(planNegotiation([anonymous], { offered: ["ANONYMOUS"], credentials, channel: { secure: false } }).candidates).toEqual([anonymous]);
    }
  });

  it("registers into a tsyringe container", async () => {
    const child = container.createChildContainer();
    registerAnonymous(child);
    expect(MechanismRegistry.fromContainer(child).get("ANONYMOUS")).toBe(anonymous);
  });
});
