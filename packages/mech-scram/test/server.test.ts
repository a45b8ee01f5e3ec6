/**
 * The server half against our client (all three hashes, SMTP and IMAP success styles) and
 * against hand-made bad client messages.
 */
import { describe, expect, it } from "vitest";
import { SaslError, pairedExchange, runExchange, utf8 } from "@saslkit/core";
import type { ServerStep } from "@saslkit/core";
import { ScramClient, ScramServer, deriveScramKeys, prepareScramPassword, type ScramHash, type ScramStoredKeys } from "@saslkit/mech-scram";
import { clientContext, fakeBinding, serverContext, text, type ClientContextInput } from "./helpers.js";

const keysFor = (hash: ScramHash, password = "pencil") => deriveScramKeys(hash, prepareScramPassword(password), { iterations: 4096 });

async function run(hash: ScramHash, opts: { client?: ClientContextInput; server?: Parameters<typeof serverContext>[1]; users?: Record<string, ScramStoredKeys>; plus?: boolean; successData?: "challenge" | "inline" } = {}) {
  const users = opts.users ?? { user: await keysFor(hash) };
  const server = new ScramServer(serverContext(users, opts.server), { hash, plus: opts.plus ?? false });
  // Keep the server's own failure step (with its log-only reason), which the client never sees.
  let serverFailure: ServerStep | undefined;
  const watch = async (step: Promise<ServerStep>) => {
    const s = await step;
    if (s.type === "failure") serverFailure = s;
    return s;
  };
  const exchange = pairedExchange(
    { name: server.name, start: (i) => watch(server.start(i)), step: (r) => watch(server.step(r)) },
    { successData: opts.successData ?? "challenge" },
  );
  const client = new ScramClient(clientContext(opts.client), { hash, plus: opts.plus ?? false });
  const result = await runExchange(client, exchange).then(
    (rounds) => ({ rounds, error: undefined as SaslError | undefined }),
    (error: unknown) => ({ rounds: undefined, error: error as SaslError }),
  );
  return { ...result, client, exchange, get serverFailure() {
    return serverFailure;
  } };
}

describe("client against server", () => {
  for (const hash of ["SHA-1", "SHA-256", "SHA-512"] as const) {
    for (const style of ["challenge", "inline"] as const) {
      it(`SCRAM-${hash} succeeds with success data delivered as ${style}`, async () => {
        const r = await run(hash, { successData: style });
        expect(r).toMatchObject({ rounds: style === "challenge" ? 2 : 1 });
        expect(r.client.complete).toBe(true);
        expect(r.exchange.outcome).toEqual({ identity: { authcid: "user", authzid: "user" } });
      });
    }
  }

  it("SCRAM-SHA-512 wrong password: the server answers e=invalid-proof, the client reports authentication-failed", async () => {
    const r = await run("SHA-512", { client: { credentials: { username: "user", password: "crayon" } } });
    expect(r.exchange.outcome).toEqual({ failure: "authentication-failed" });
    expect(r).toMatchObject({ error: { code: "authentication-failed" } });
    expect(r.error?.message).toContain("e=invalid-proof");
  });

  it("SCRAM-SHA-512-PLUS succeeds with matching tls-exporter data", async () => {
    const channelBinding = fakeBinding({ "tls-exporter": new Uint8Array(32).fill(7) });
    const r = await run("SHA-512", { plus: true, client: { channel: { channelBinding } }, server: { channel: { channelBinding } } });
    expect(r).toMatchObject({ rounds: 2 });
    expect(r.client.complete).toBe(true);
  });

  it("-PLUS with different binding data: e=channel-bindings-dont-match", async () => {
    const r = await run("SHA-256", {
      plus: true,
      client: { channel: { channelBinding: fakeBinding({ "tls-exporter": new Uint8Array(32).fill(1) }) } },
      server: { channel: { channelBinding: fakeBinding({ "tls-exporter": new Uint8Array(32).fill(2) }) } },
    });
    expect(r.error?.code).toBe("authentication-failed");
    expect(r.error?.message).toContain("e=channel-bindings-dont-match");
  });

  it("-PLUS naming a type the server cannot produce: e=unsupported-channel-binding-type", async () => {
    const r = await run("SHA-256", {
      plus: true,
      client: { channel: { channelBinding: fakeBinding({ "tls-exporter": "x" }) } },
      server: { channel: { channelBinding: fakeBinding({ "tls-server-end-point": "y" }) } },
    });
    expect(r.error?.message).toContain("e=unsupported-channel-binding-type");
  });

  it("-PLUS to a server without binding data: e=channel-binding-not-supported", async () => {
    const r = await run("SHA-256", { plus: true, client: { channel: { channelBinding: fakeBinding({ "tls-exporter": "x" }) } } });
    expect(r.error?.message).toContain("e=channel-binding-not-supported");
  });

  it("downgrade: a client sending y to a server that advertised a -PLUS variant fails, reported as a downgrade", async () => {
    const channelBinding = fakeBinding({ "tls-exporter": "x" });
    const r = await run("SHA-256", {
      client: { channel: { channelBinding }, offered: ["SCRAM-SHA-256"] },
      server: { channel: { channelBinding }, advertised: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"] },
    });
    expect(r.exchange.sent[0] && text(r.exchange.sent[0])).toMatch(/^y,,/);
    expect(r.error?.message).toContain("e=server-does-support-channel-binding");
    expect(r.serverFailure).toMatchObject({ code: "authentication-failed", reason: "downgrade" });
  });

  it("y to a server that can bind but advertised no -PLUS variant succeeds (RFC 5802 §6, issue 13 item 5)", async () => {
    const channelBinding = fakeBinding({ "tls-exporter": "x" });
    for (const advertised of [["SCRAM-SHA-256", "PLAIN"], undefined]) {
      const r = await run("SHA-256", {
        client: { channel: { channelBinding }, offered: ["SCRAM-SHA-256"] },
        server: { channel: { channelBinding }, ...(advertised ? { advertised } : {}) },
      });
      expect(r.exchange.sent[0] && text(r.exchange.sent[0])).toMatch(/^y,,/);
      expect(r.client.complete).toBe(true);
    }
  });

  it("y to a server that does not bind succeeds", async () => {
    const r = await run("SHA-256", { client: { channel: { channelBinding: fakeBinding({ "tls-exporter": "x" }) }, offered: ["SCRAM-SHA-256"] } });
    expect(r.client.complete).toBe(true);
  });

  it("y to a server whose binding is turned off succeeds", async () => {
    const channelBinding = fakeBinding({ "tls-exporter": "x" });
    const r = await run("SHA-256", {
      client: { channel: { channelBinding }, offered: ["SCRAM-SHA-256"] },
      server: { channel: { channelBinding }, options: { scram: { channelBinding: false } } },
    });
    expect(r.client.complete).toBe(true);
  });

  it("unknown user fails like a wrong password, and its salt is stable (no user enumeration)", async () => {
    const salts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const server = new ScramServer(serverContext({}), { hash: "SHA-256" });
      const first = (await server.start(utf8("n,,n=nobody,r=abcdefgh"))) as { data: Uint8Array };
      salts.push(/,s=([^,]+),/.exec(text(first.data) as string)?.[1] as string);
    }
    expect(salts[0]).toBe(salts[1]);
    const r = await run("SHA-256", { users: {} });
    expect(r.error?.message).toContain("e=invalid-proof");
  });

  it("the server SASLprep's the user name before the lookup", async () => {
    const r = await run("SHA-256", { users: { IX: await keysFor("SHA-256") }, client: { credentials: { username: "I\u00ADX", password: "pencil" } } });
    expect(r.exchange.outcome).toEqual({ identity: { authcid: "IX", authzid: "IX" } });
  });

  it("authzid: refused by default, allowed by the authorize callback", async () => {
    const credentials = { username: "user", password: "pencil", authzid: "admin" };
    const refused = await run("SHA-256", { client: { credentials } });
    expect(refused.error?.code).toBe("authorization-failed");
    const allowed = await run("SHA-256", { client: { credentials }, server: { authorize: (a, z) => a === "user" && z === "admin" } });
    expect(allowed.exchange.outcome).toEqual({ identity: { authcid: "user", authzid: "admin" } });
  });

  it("no lookupScramKeys callback: authentication-failed", async () => {
    const server = new ScramServer({ callbacks: {}, channel: { secure: true }, hostname: "h", options: {} }, { hash: "SHA-256" });
    expect(await server.start(utf8("n,,n=user,r=abcdefgh"))).toEqual({ type: "failure", code: "authentication-failed", message: "e=other-error", reason: "other" });
  });
});

describe("server bad inputs", () => {
  const users = async () => ({ user: await keysFor("SHA-256") });
  const first = async (message: string | Uint8Array, plus = false, channel = {}): Promise<ServerStep> => {
    const server = new ScramServer(serverContext(await users(), { channel }), { hash: "SHA-256", plus });
    return server.start(typeof message === "string" ? utf8(message) : message);
  };
  // The log-only reason follows from the error: malformed input, binding, the proof, or other.
  const reasonOf = (code: string, e: string) =>
    code === "invalid-response"
      ? "malformed"
      : e === "invalid-proof"
        ? "credentials"
        : ["channel-bindings-dont-match", "channel-binding-not-supported", "unsupported-channel-binding-type"].includes(e)
          ? "channel-binding"
          : e === "server-does-support-channel-binding"
            ? "downgrade"
            : "other";
  const failure = (code: string, e: string) => ({ type: "failure", code, message: `e=${e}`, reason: reasonOf(code, e) });

  it("no initial response: an empty challenge asks for client-first", async () => {
    const server = new ScramServer(serverContext(await users()), { hash: "SHA-256" });
    expect(await server.start(null)).toEqual({ type: "challenge", data: new Uint8Array(0) });
    expect((await server.step(utf8("n,,n=user,r=abcdefgh"))).type).toBe("challenge");
  });
  it("mandatory extension m=", async () => {
    expect(await first("n,,m=x,n=user,r=abc")).toEqual(failure("invalid-response", "extensions-not-supported"));
  });
  it("bad saslname escape", async () => {
    expect(await first("n,,n=us=2Xer,r=abc")).toEqual(failure("invalid-response", "invalid-encoding"));
  });
  it("bad GS2 flag and missing header", async () => {
    expect(await first("x,,n=user,r=abc")).toEqual(failure("invalid-response", "invalid-encoding"));
    expect(await first("n=user,r=abc")).toEqual(failure("invalid-response", "invalid-encoding"));
  });
  it("not UTF-8", async () => {
    expect(await first(new Uint8Array([0x6e, 0x2c, 0x2c, 0xff]))).toEqual(failure("invalid-response", "invalid-encoding"));
  });
  it("user name SASLprep refuses", async () => {
    expect(await first("n,,n=\u0007,r=abc")).toEqual(failure("invalid-response", "invalid-username-encoding"));
  });
  it("p= with a non-PLUS mechanism", async () => {
    expect(await first("p=tls-exporter,,n=user,r=abc")).toEqual(failure("invalid-response", "invalid-encoding"));
  });
  it("-PLUS mechanism without p=", async () => {
    expect(await first("n,,n=user,r=abc", true, { channelBinding: fakeBinding({ "tls-exporter": "x" }) })).toEqual(failure("authentication-failed", "channel-bindings-dont-match"));
  });

  const final = async (clientFinal: (nonce: string) => string): Promise<ServerStep> => {
    const server = new ScramServer(serverContext(await users()), { hash: "SHA-256" });
    const sf = text(((await server.start(utf8("n,,n=user,r=abcdefgh"))) as { data: Uint8Array }).data) as string;
    const nonce = /^r=([^,]+)/.exec(sf)?.[1] as string;
    return server.step(utf8(clientFinal(nonce)));
  };
  const proof = Buffer.alloc(32).toString("base64");
  it("client-final: wrong nonce", async () => {
    expect(await final(() => `c=biws,r=abcdefghXXXX,p=${proof}`)).toEqual(failure("authentication-failed", "other-error"));
  });
  it("client-final: c= for a different GS2 header", async () => {
    expect(await final((n) => `c=eSws,r=${n},p=${proof}`)).toEqual(failure("authentication-failed", "channel-bindings-dont-match"));
  });
  it("client-final: missing p=, bad proof length, attributes out of order", async () => {
    expect(await final((n) => `c=biws,r=${n}`)).toEqual(failure("invalid-response", "invalid-encoding"));
    expect(await final((n) => `c=biws,r=${n},p=AAAA`)).toEqual(failure("invalid-response", "invalid-encoding"));
    expect(await final((n) => `r=${n},c=biws,p=${proof}`)).toEqual(failure("invalid-response", "invalid-encoding"));
  });
  it("client-final: wrong proof", async () => {
    expect(await final((n) => `c=biws,r=${n},p=${proof}`)).toEqual(failure("authentication-failed", "invalid-proof"));
  });
  it("calls after the outcome throw bad-state", async () => {
    const server = new ScramServer(serverContext(await users()), { hash: "SHA-256" });
    await server.start(utf8("n,,m=x,n=user,r=abc"));
    await expect(server.step(utf8("c=biws"))).rejects.toMatchObject({ code: "bad-state" });
    await expect(server.start(null)).rejects.toMatchObject({ code: "bad-state" });
  });
});

describe("overlapping calls on one exchange (public API; embedding servers never make them)", () => {
  it("a step while the key lookup or the authorization check runs is bad-state; the pending call completes, one outcome", async () => {
    const keys = await keysFor("SHA-256");
    let releaseLookup!: () => void;
    let releaseAuthorize!: (ok: boolean) => void;
    let lookups = 0;
    let authorizations = 0;
    const context = serverContext({});
    const server = new ScramServer(
      {
        ...context,
        callbacks: {
          lookupScramKeys: () => (lookups++, new Promise<ScramStoredKeys>((resolve) => (releaseLookup = () => resolve(keys)))),
          authorize: () => (authorizations++, new Promise<boolean>((resolve) => (releaseAuthorize = resolve))),
        },
      },
      { hash: "SHA-256" },
    );
    const client = new ScramClient(clientContext({ credentials: { username: "user", password: "pencil", authzid: "shared" } }), { hash: "SHA-256" });
    const clientFirst = await client.start();
    const first = server.start(clientFirst);
    await expect(server.step(clientFirst)).rejects.toMatchObject({ code: "bad-state", mechanism: "SCRAM-SHA-256" });
    await expect(server.start(clientFirst)).rejects.toMatchObject({ code: "bad-state" });
    releaseLookup();
    const challenge = await first;
    expect(challenge.type).toBe("challenge");
    expect(lookups).toBe(1);
    const clientFinal = await client.step((challenge as { data: Uint8Array }).data);
    const final = server.step(clientFinal);
    await expect(server.step(clientFinal)).rejects.toMatchObject({ code: "bad-state" });
    releaseAuthorize(true);
    const outcome = await final;
    expect(outcome).toMatchObject({ type: "success", identity: { authcid: "user", authzid: "shared" } });
    expect(authorizations).toBe(1);
    await client.finish((outcome as { data: Uint8Array }).data);
    expect(client.complete).toBe(true);
    await expect(server.step(clientFinal)).rejects.toMatchObject({ code: "bad-state" });
  });
});
