import { inspect } from "node:util";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { Credentials, MechanismRegistry, USERNAME, SaslError, authenticate, pairedExchange, planNegotiation, runExchange, utf8 } from "@saslkit/core";
import type { ClientContext, CredentialsInput, SaslExchange, ServerCallbacks, ServerContext, ServerEvent } from "@saslkit/core";
import { TOKEN, XOAuth2Client, XOAuth2Server, registerXOAuth2, xoauth2, type TokenVerdict } from "@saslkit/mech-oauth";

// vectors.md §8 (Google's XOAUTH2 protocol page).
const G_USER = "someuser@example.com";
const G_TOKEN = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg";
const G_IR = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==";
// Google's documented error challenge; decodes to {"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"} and a newline.
const G_ERROR = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K";

const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array(0)).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

function clientContext(input: CredentialsInput, freshCredentials = false): ClientContext {
  return { credentials: Credentials.from(input), channel: { secure: true }, offered: ["XOAUTH2"], options: {}, freshCredentials };
}

function serverContext(callbacks: ServerCallbacks): ServerContext {
  return { callbacks, channel: { secure: true }, hostname: "mx.example.com", options: {} };
}

function verifier(good: Record<string, string>, refusal: Extract<TokenVerdict, { valid: false }> = { valid: false, status: "401", schemes: "bearer", scope: "https://mail.google.com/" }) {
  const seen: { user: string; token: string }[] = [];
  return {
    seen,
    verifyToken: (user: string, token: string): TokenVerdict => {
      seen.push({ user, token });
      const owner = good[token];
      return owner !== undefined ? { valid: true, user: owner } : refusal;
    },
  };
}

describe("XOAUTH2 client: vectors", () => {
  it("§8: builds Google's example byte for byte, completes, then refuses a further step", async () => {
    const client = new XOAuth2Client(clientContext({ username: G_USER, token: G_TOKEN }));
    const ir = await client.start();
    expect(b64(ir)).toBe(G_IR);
    expect(Buffer.from(ir).toString()).toBe(`user=${G_USER}\x01auth=Bearer ${G_TOKEN}\x01\x01`);
    client.finish(null);
    expect(client.complete).toBe(true);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state", mechanism: "XOAUTH2" }));
  });

  it("answers Google's error challenge with an EMPTY response and records the JSON", async () => {
    const client = new XOAuth2Client(clientContext({ username: G_USER, token: G_TOKEN, tokenProvider: () => "fresh" }));
    await client.start();
    const answer = client.step(unb64(G_ERROR));
    expect(answer).toBeInstanceOf(Uint8Array);
    expect(answer.length).toBe(0);
    expect(client.failureDetail).toEqual({ status: "401", schemes: "bearer mac", scope: "https://mail.google.com/" });
    expect(client.retryWithFreshCredentials).toBe(true);
    expect(client.complete).toBe(false);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "server-error" }));
  });

  it("asks for no retry without a token provider, or for a status that is not a token refusal", async () => {
    const stat = new XOAuth2Client(clientContext({ username: "u", token: "t" }));
    await stat.start();
    stat.step(unb64(G_ERROR));
    expect(stat.retryWithFreshCredentials).toBe(false);
    const scope = new XOAuth2Client(clientContext({ username: "u", token: "t", tokenProvider: () => "x" }));
    await scope.start();
    scope.step(utf8('{"status":"400","scope":"s"}'));
    expect(scope.retryWithFreshCredentials).toBe(false);
  });

  it.each([
    ["not JSON", utf8("nope")],
    ["an empty challenge", new Uint8Array(0)],
    ["invalid UTF-8", Uint8Array.of(0xc3)],
    ["JSON without status", utf8("{}")],
  ])("still answers empty to %s and records status malformed", async (_case, challenge) => {
    const client = new XOAuth2Client(clientContext({ username: "u", token: "t" }));
    await client.start();
    expect(client.step(challenge).length).toBe(0);
    expect(client.failureDetail).toEqual({ status: "malformed" });
  });
});

describe("XOAUTH2 server", () => {
  it("accepts Google's example message", async () => {
    const v = verifier({ [G_TOKEN]: G_USER });
    const server = new XOAuth2Server(serverContext({ verifyToken: v.verifyToken }));
    expect(await server.start(unb64(G_IR))).toEqual({ type: "success", identity: { authcid: G_USER, authzid: G_USER } });
    expect(v.seen).toEqual([{ user: G_USER, token: G_TOKEN }]);
    await expect(server.step(new Uint8Array(0))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("sends the JSON error, waits for the empty answer, then fails", async () => {
    const server = new XOAuth2Server(serverContext({ verifyToken: verifier({}).verifyToken }));
    const first = await server.start(unb64(G_IR));
    expect(first.type === "challenge" && Buffer.from(first.data).toString()).toBe('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}');
    expect(await server.step(new Uint8Array(0))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("answers a non-empty answer to its error with invalid-response", async () => {
    const server = new XOAuth2Server(serverContext({ verifyToken: verifier({}).verifyToken }));
    await server.start(unb64(G_IR));
    expect(await server.step(Uint8Array.of(1))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("without an initial response sends an empty challenge first", async () => {
    const server = new XOAuth2Server(serverContext({ verifyToken: verifier({ [G_TOKEN]: G_USER }).verifyToken }));
    expect(await server.start(null)).toEqual({ type: "challenge", data: new Uint8Array(0) });
    expect(await server.step(unb64(G_IR))).toMatchObject({ type: "success" });
  });

  it("fails without a verifier, and when the token's owner is not the user= unless authorize allows it", async () => {
    expect(await new XOAuth2Server(serverContext({})).start(unb64(G_IR))).toMatchObject({ type: "failure", code: "authentication-failed" });
    const other = { verifyToken: verifier({ [G_TOKEN]: "admin@example.com" }).verifyToken };
    expect(await new XOAuth2Server(serverContext(other)).start(unb64(G_IR))).toMatchObject({ type: "failure", code: "authorization-failed" });
    expect(await new XOAuth2Server(serverContext({ ...other, authorize: () => true })).start(unb64(G_IR))).toEqual({
      type: "success",
      identity: { authcid: "admin@example.com", authzid: G_USER },
    });
  });

  it.each<[string, Uint8Array]>([
    ["invalid UTF-8", Uint8Array.of(0x75, 0xff, 0x01, 0x01)],
    ["no separators", utf8("user=a auth=Bearer t")],
    ["one trailing 0x01", utf8("user=a\x01auth=Bearer t\x01")],
    ["three trailing 0x01", utf8("user=a\x01auth=Bearer t\x01\x01\x01")],
    ["pairs swapped", utf8("auth=Bearer t\x01user=a\x01\x01")],
    ["empty user", utf8("user=\x01auth=Bearer t\x01\x01")],
    ["no Bearer", utf8("user=a\x01auth=t\x01\x01")],
    ["token outside b64token", utf8("user=a\x01auth=Bearer t t\x01\x01")],
    ["an extra pair", utf8("user=a\x01host=h\x01auth=Bearer t\x01\x01")],
    ["empty message", new Uint8Array(0)],
  ])("refuses a malformed client message: %s", async (_case, message) => {
    let called = false;
    const server = new XOAuth2Server(serverContext({ verifyToken: () => ((called = true), { valid: true, user: "a" }) }));
    const step = await server.start(message);
    expect(step).toMatchObject({ type: "failure", code: "invalid-response" });
    expect(step.type === "failure" && step.message).toMatch(/^XOAUTH2: .+\.$/);
    expect(called).toBe(false);
  });
});

describe("XOAUTH2 client against the server half", () => {
  it("authenticates through runExchange", async () => {
    const server = new XOAuth2Server(serverContext({ verifyToken: verifier({ [G_TOKEN]: G_USER }).verifyToken }));
    const exchange = pairedExchange(server);
    expect(await runExchange(xoauth2.createClient(clientContext({ username: G_USER, token: G_TOKEN })), exchange)).toBe(0);
    expect(exchange.outcome).toEqual({ identity: { authcid: G_USER, authzid: G_USER } });
  });

  it("a refused token fails with the server's reply and the JSON, after the empty answer", async () => {
    const server = new XOAuth2Server(serverContext({ verifyToken: verifier({}).verifyToken }));
    const exchange = pairedExchange(server);
    const error = await runExchange(new XOAuth2Client(clientContext({ username: G_USER, token: G_TOKEN })), exchange).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "authentication-failed", mechanism: "XOAUTH2", detail: { status: "401", scope: "https://mail.google.com/" } });
    expect(exchange.sent.map(b64)).toEqual([G_IR, ""]);
    expect(exchange.outcome).toEqual({ failure: "authentication-failed" });
  });

  it("sends the empty answer over the wire even for malformed JSON", async () => {
    const sent: (Uint8Array | null)[] = [];
    const failure: ServerEvent = { type: "failure", code: "authentication-failed", reply: { status: "535", enhanced: "5.7.8", text: "Username and Password not accepted" } };
    const exchange: SaslExchange = {
      begin: async (_m, ir) => (sent.push(ir), { type: "challenge", data: utf8("<html>") }),
      respond: async (r) => (sent.push(r), failure),
      cancel: async () => {
        throw new Error("the client must answer empty, not cancel");
      },
    };
    const error = await runExchange(new XOAuth2Client(clientContext({ username: "u", token: "t" })), exchange).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "authentication-failed", detail: { status: "malformed" }, reply: { status: "535" } });
    expect(sent[1]).toEqual(new Uint8Array(0));
  });
});

describe("XOAUTH2 token refresh through core's authenticate", () => {
  const run = async (fresh: string) => {
    const v = verifier({ fresh: "alice@example.com" });
    let current: SaslExchange | undefined;
    let begins = 0;
    const exchange: SaslExchange = {
      begin: async (m, ir) => {
        begins++;
        current = pairedExchange(new XOAuth2Server(serverContext({ verifyToken: v.verifyToken })));
        return current.begin(m, ir);
      },
      respond: async (r) => (current as SaslExchange).respond(r),
      cancel: async () => (current as SaslExchange).cancel(),
    };
    const calls: { refresh: boolean; username?: string }[] = [];
    const plan = planNegotiation([xoauth2], {
      offered: ["XOAUTH2"],
      credentials: { username: "alice@example.com", token: "stale", tokenProvider: (r) => (calls.push(r), fresh) },
      channel: { secure: true },
    });
    const outcome = await authenticate(plan, exchange).then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    return { outcome, calls, begins, seen: v.seen };
  };

  it("retries once with a fresh token and succeeds", async () => {
    const { outcome, calls, begins, seen } = await run("fresh");
    expect(outcome).toMatchObject({ result: { mechanism: "XOAUTH2" } });
    expect(calls).toEqual([{ refresh: true, username: "alice@example.com" }]);
    expect(begins).toBe(2);
    expect(seen.map((s) => s.token)).toEqual(["stale", "fresh"]);
  });

  it("retries at most once", async () => {
    const { outcome, calls, begins } = await run("still-stale");
    expect(outcome).toMatchObject({ error: { code: "authentication-failed", detail: { status: "401" } } });
    expect(calls).toHaveLength(1);
    expect(begins).toBe(2);
  });
});

describe("XOAUTH2 client: inputs and states", () => {
  it("fails with missing-credentials without a user name or a token", async () => {
    await expect(new XOAuth2Client(clientContext({ token: "t" })).start()).rejects.toMatchObject({ code: "missing-credentials" });
    await expect(new XOAuth2Client(clientContext({ username: "u" })).start()).rejects.toMatchObject({ code: "missing-credentials" });
  });

  it("refuses control characters in the user name and an authzid it cannot carry", async () => {
    await expect(new XOAuth2Client(clientContext({ username: "a\x01b", token: "t" })).start()).rejects.toMatchObject({ code: "invalid-credentials-input" });
    await expect(new XOAuth2Client(clientContext({ username: "a", authzid: "b", token: "t" })).start()).rejects.toMatchObject({ code: "invalid-credentials-input" });
    expect(Buffer.from(await new XOAuth2Client(clientContext({ username: "a", authzid: "a", token: "t" })).start()).toString()).toBe("user=a\x01auth=Bearer t\x01\x01");
  });

  it("refuses calls out of order", async () => {
    const client = new XOAuth2Client(clientContext({ username: "u", token: "t" }));
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    await client.start();
    await expect(client.start()).rejects.toMatchObject({ code: "bad-state" });
  });

  it("never reveals the token in errors, details or inspect output", async () => {
    const TOKEN = "ya29.S3cretToken-value";
    const errors: SaslError[] = [];
    const grab = async (p: Promise<unknown>) => {
      const e = await p.then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(SaslError);
      errors.push(e as SaslError);
    };
    await grab(new XOAuth2Client(clientContext({ username: "u", token: `${TOKEN}\x01` })).start());
    const echo: SaslExchange = {
      begin: async () => ({ type: "challenge", data: utf8(JSON.stringify({ status: "401", token: TOKEN })) }),
      respond: async () => ({ type: "failure", code: "authentication-failed", reply: { status: "535", text: "no" } }),
      cancel: async () => ({ type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } }),
    };
    const client = new XOAuth2Client(clientContext({ username: "u", token: TOKEN }));
    await grab(runExchange(client, echo));
    const plan = planNegotiation([xoauth2], { offered: ["XOAUTH2"], credentials: { username: "u", token: TOKEN }, channel: { secure: true } });
    await grab(authenticate(plan, pairedExchange(new XOAuth2Server(serverContext({ verifyToken: verifier({}).verifyToken })))));
    for (const e of errors) {
      const printed = `${e.message}\n${inspect(e, { depth: 10 })}\n${JSON.stringify({ detail: e.detail, reply: e.reply })}`;
      expect(printed).not.toContain(TOKEN);
      expect(printed).not.toContain(Buffer.from(TOKEN).toString("base64"));
    }
    expect(inspect(client, { depth: 10 })).not.toContain(TOKEN);
  });
});

describe("XOAUTH2 provider", () => {
  it("declares the project's descriptor and registers", () => {
    expect(xoauth2).toMatchObject({
      name: "XOAUTH2",
      priority: 640,
      clientFirst: true,
      needs: [USERNAME, TOKEN],
      security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
    });
    const child = container.createChildContainer();
    registerXOAuth2(child);
    expect(MechanismRegistry.fromContainer(child).get("XOAUTH2")).toBe(xoauth2);
  });
});
