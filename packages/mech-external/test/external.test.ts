import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { Credentials, MechanismRegistry, pairedExchange, planNegotiation, runExchange, utf8 } from "@saslkit/core";
import type { ChannelInfo, ClientContext, CredentialsInput, ServerCallbacks, ServerContext } from "@saslkit/core";
import { ExternalClient, ExternalServer, external, registerExternal } from "@saslkit/mech-external";
import { externalImplied } from "../src/external.js";

const CERT_SUBJECT = "CN=alice,O=Example";

function clientContext(input: CredentialsInput = {}): ClientContext {
  return { credentials: Credentials.from(input), channel: { secure: true }, offered: ["EXTERNAL"], options: {} };
}

function serverContext(channel: Partial<ChannelInfo> = { externalIdentity: CERT_SUBJECT }, callbacks: ServerCallbacks = {}): ServerContext {
  return { callbacks, channel: { secure: true, ...channel }, hostname: "mx.example.com", options: {} };
}

describe("EXTERNAL client", () => {
  it("sends an EMPTY initial response (not null) when no authzid is given, then refuses a step", async () => {
    const client = new ExternalClient(clientContext());
    const ir = await client.start();
    expect(ir).not.toBeNull();
    expect(ir).toBeInstanceOf(Uint8Array);
    expect(ir.length).toBe(0);
    expect(client.complete).toBe(true);
    client.finish(null);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state", mechanism: "EXTERNAL" }));
  });

  it("treats an empty authzid as none", async () => {
    expect((await new ExternalClient(clientContext({ authzid: "" })).start()).length).toBe(0);
  });

  it("sends the authzid as UTF-8", async () => {
    expect(Buffer.from(await new ExternalClient(clientContext({ authzid: "jösé@example.com" })).start()).toString("hex")).toBe(
      Buffer.from("jösé@example.com", "utf8").toString("hex"),
    );
  });

  it("ignores user names and passwords: only the authzid is sent", async () => {
    expect((await new ExternalClient(clientContext({ username: "alice", password: "pw" })).start()).length).toBe(0);
  });

  it("refuses an authzid with NUL or a lone surrogate", async () => {
    await expect((async () => new ExternalClient(clientContext({ authzid: "a\0b" })).start())()).rejects.toThrow(expect.objectContaining({ code: "invalid-credentials-input" }));
    await expect((async () => new ExternalClient(clientContext({ authzid: "a\ud800" })).start())()).rejects.toThrow(expect.objectContaining({ code: "invalid-credentials-input" }));
  });

  it("refuses calls out of order", async () => {
    const client = new ExternalClient(clientContext());
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "bad-state" }));
    await client.start();
    await expect((async () => client.start())()).rejects.toThrow(expect.objectContaining({ code: "bad-state" }));
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    client.finish(null);
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "bad-state" }));
  });
});

describe("EXTERNAL server", () => {
  it("an empty authzid authenticates as the external identity", async () => {
    const server = new ExternalServer(serverContext());
    expect(await server.start(new Uint8Array(0))).toEqual({ type: "success", identity: { authcid: CERT_SUBJECT, authzid: CERT_SUBJECT } });
    await expect(server.step(new Uint8Array(0))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("an authzid equal to the external identity is accepted without authorize", async () => {
    expect(await new ExternalServer(serverContext()).start(utf8(CERT_SUBJECT))).toMatchObject({ type: "success" });
  });

  it("another authzid needs authorize(external, authzid); by default it is refused", async () => {
    expect(await new ExternalServer(serverContext()).start(utf8("bob"))).toMatchObject({ type: "failure", code: "authorization-failed" });
    const asked: [string, string][] = [];
    const server = new ExternalServer(serverContext(undefined, { authorize: (a, z) => (asked.push([a, z]), true) }));
    expect(await server.start(utf8("bob"))).toEqual({ type: "success", identity: { authcid: CERT_SUBJECT, authzid: "bob" } });
    expect(asked).toEqual([[CERT_SUBJECT, "bob"]]);
    const no = new ExternalServer(serverContext(undefined, { authorize: async () => false }));
    expect(await no.start(utf8("bob"))).toMatchObject({ type: "failure", code: "authorization-failed" });
  });

  it("fails when the channel has no external identity", async () => {
    expect(await new ExternalServer(serverContext({})).start(new Uint8Array(0))).toMatchObject({ type: "failure", code: "authentication-failed" });
    expect(await new ExternalServer(serverContext({ externalIdentity: "" })).start(new Uint8Array(0))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("asks with an empty challenge when there is no initial response", async () => {
    const server = new ExternalServer(serverContext());
    expect(await server.start(null)).toEqual({ type: "challenge", data: new Uint8Array(0) });
    expect(await server.step(new Uint8Array(0))).toMatchObject({ type: "success", identity: { authcid: CERT_SUBJECT } });
  });

  it.each<[string, Uint8Array]>([
    ["invalid UTF-8", Uint8Array.of(0xc3, 0x28)],
    ["a NUL", utf8("a\0b")],
  ])("refuses an authzid with %s", async (_case, bytes) => {
    const step = await new ExternalServer(serverContext()).start(bytes);
    expect(step).toMatchObject({ type: "failure", code: "invalid-response" });
    expect(step.type === "failure" && step.message).toMatch(/^EXTERNAL: .+\.$/);
  });
});

describe("EXTERNAL client against the server half", () => {
  it("runs through runExchange; the wire carries an empty message, not none", async () => {
    const exchange = pairedExchange(new ExternalServer(serverContext()));
    expect(await runExchange(external.createClient(clientContext()), exchange)).toBe(0);
    expect(exchange.sent).toEqual([new Uint8Array(0)]);
    expect(exchange.sent[0]).not.toBeNull();
    expect(exchange.outcome).toEqual({ identity: { authcid: CERT_SUBJECT, authzid: CERT_SUBJECT } });
  });

  it("an unauthorised authzid fails with authorization-failed", async () => {
    const exchange = pairedExchange(new ExternalServer(serverContext()));
    await expect(runExchange(new ExternalClient(clientContext({ authzid: "root" })), exchange)).rejects.toMatchObject({ code: "authorization-failed", mechanism: "EXTERNAL" });
  });
});

describe("EXTERNAL provider", () => {
  it("declares the project's descriptor", async () => {
    expect(external).toMatchObject({
      name: "EXTERNAL",
      priority: 100,
      clientFirst: true,
      explicitOnly: true,
      needs: [],
      security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false, channelIdentity: true },
    });
  });

  it("is chosen only when forced or listed", async () => {
    const input = { offered: ["EXTERNAL"], credentials: {}, channel: { secure: true } };
    const plain = planNegotiation([external], input);
    expect(plain.candidates).toEqual([]);
    expect(plain.refused).toEqual([expect.objectContaining({ mechanism: "EXTERNAL", reason: "explicit-only" })]);
    expect(planNegotiation([external], { ...input, policy: { force: "external" } }).candidates).toEqual([external]);
    expect(planNegotiation([external], { ...input, policy: { order: ["EXTERNAL"] } }).candidates).toEqual([external]);
  });

  it("registers into a tsyringe container", async () => {
    const child = container.createChildContainer();
    registerExternal(child);
    expect(MechanismRegistry.fromContainer(child).get("EXTERNAL")).toBe(external);
  });
});

describe("externalImplied (EXTERNAL chosen unasked)", () => {
  const ctx = (input: CredentialsInput, channel: ChannelInfo) => ({ credentials: Credentials.from(input), channel, offered: ["EXTERNAL"], options: {} });
  it.each([
    ["certificate, TLS, no secret", {}, { secure: true, clientCertificate: true }, undefined],
    ["certificate, TLS, a user name only", { username: "alice" }, { secure: true, clientCertificate: true }, undefined],
    ["no certificate", {}, { secure: true }, "when a client certificate is given"],
    ["certificate without TLS", {}, { secure: false, clientCertificate: true }, "over TLS"],
    ["certificate and a password", { username: "a", password: "p" }, { secure: true, clientCertificate: true }, "when no password or other secret is given"],
    // Every unmet condition is named (what saslkit probe shows for a password and no certificate).
    ["no certificate and a password", { username: "a", password: "p" }, { secure: true }, "when a client certificate is given and no password or other secret is given"],
    ["no certificate, no TLS", {}, { secure: false }, "over TLS when a client certificate is given"],
    ["nothing met", { username: "a", password: "p" }, { secure: false }, "over TLS when a client certificate is given and no password or other secret is given"],
  ] as const)("%s", (_label, input, channel, expected) => {
    expect(externalImplied(ctx(input, channel))).toBe(expected);
  });
});
