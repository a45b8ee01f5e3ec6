import { inspect } from "node:util";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import {
  Credentials,
  MechanismRegistry,
  SaslError,
  authenticate,
  pairedExchange,
  planNegotiation,
  runExchange,
  utf8,
} from "@saslkit/core";
import type { ChannelInfo, ClientContext, CredentialsInput, SaslExchange, ServerCallbacks, ServerContext, ServerEvent } from "@saslkit/core";
import { OAuthBearerClient, OAuthBearerServer, TOKEN, oauthBearer, registerOAuthBearer, type TokenVerdict } from "@saslkit/mech-oauth";

// RFC 7628 §4 (vectors.md §7).
const RFC_USER = "user@example.com";
const RFC_HOST = "server.example.com";
const RFC_TOKEN = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";
const IMAP_IR =
  "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
const SMTP_IR =
  "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
const IMAP_ERROR =
  "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";
const SMTP_ERROR = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZXhhbXBsZS5jb20vIn0=";
const OPENID = "https://example.com/.well-known/openid-configuration";

const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array(0)).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

function clientContext(input: CredentialsInput, channel: Partial<ChannelInfo> = {}, freshCredentials = false): ClientContext {
  return { credentials: Credentials.from(input), channel: { secure: true, ...channel }, offered: ["OAUTHBEARER"], options: {}, freshCredentials };
}

function serverContext(callbacks: ServerCallbacks, options: Record<string, unknown> = {}): ServerContext {
  return { callbacks, channel: { secure: true }, hostname: RFC_HOST, options };
}

/** A token verifier that accepts `good` for its owner and refuses everything else with `refusal`. */
function verifier(good: Record<string, string>, refusal: Extract<TokenVerdict, { valid: false }> = { valid: false, status: "invalid_token" }) {
  const seen: { user: string; token: string }[] = [];
  const verifyToken = (user: string, token: string): TokenVerdict => {
    seen.push({ user, token });
    const owner = good[token];
    return owner !== undefined ? { valid: true, user: owner } : refusal;
  };
  return { seen, verifyToken };
}

/** An exchange that gives every `begin` a fresh server half, as a real server does per AUTH command. */
function freshServerPerAttempt(makeServer: () => OAuthBearerServer) {
  let current: SaslExchange | undefined;
  const log = { begins: 0, sent: [] as (Uint8Array | null)[] };
  const exchange: SaslExchange = {
    async begin(mechanism, initial) {
      log.begins++;
      log.sent.push(initial);
      current = pairedExchange(makeServer());
      return current.begin(mechanism, initial);
    },
    async respond(response) {
      log.sent.push(response);
      return (current as SaslExchange).respond(response);
    },
    async cancel() {
      return (current as SaslExchange).cancel();
    },
  };
  return { exchange, log };
}

describe("OAUTHBEARER client: RFC 7628 §4 vectors", () => {
  it("§4.1 IMAP: builds the initial response byte for byte, completes, then refuses a further step", async () => {
    const client = new OAuthBearerClient(clientContext({ username: RFC_USER, token: RFC_TOKEN }, { host: RFC_HOST, port: 143 }));
    const ir = await client.start();
    expect(b64(ir)).toBe(IMAP_IR);
    expect(Buffer.from(ir).toString("latin1")).toBe(`n,a=${RFC_USER},\x01host=${RFC_HOST}\x01port=143\x01auth=Bearer ${RFC_TOKEN}\x01\x01`);
    expect(client.complete).toBe(true);
    await client.finish(null);
    expect(client.complete).toBe(true);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state", mechanism: "OAUTHBEARER" }));
  });

  it("§4.2 SMTP: the same message with port 587", async () => {
    const client = new OAuthBearerClient(clientContext({ username: RFC_USER, token: RFC_TOKEN }, { host: RFC_HOST, port: 587 }));
    expect(b64(await client.start())).toBe(SMTP_IR);
  });

  it("§4.3 IMAP failure: answers the JSON error with AQ== and records the decoded error", async () => {
    const client = new OAuthBearerClient(clientContext({ username: RFC_USER, token: RFC_TOKEN }, { host: RFC_HOST, port: 143 }));
    await client.start();
    expect(b64(client.step(unb64(IMAP_ERROR)))).toBe("AQ==");
    expect(client.failureDetail).toEqual({ status: "invalid_token", scope: "example_scope", "openid-configuration": OPENID });
    expect(client.complete).toBe(false);
    // A static token cannot be renewed: no retry.
    expect(client.retryWithFreshCredentials).toBe(false);
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
  });

  it("§4.4 SMTP failure: status 401 with a token provider asks for a retry", async () => {
    const client = new OAuthBearerClient(
      clientContext({ username: RFC_USER, token: RFC_TOKEN, tokenProvider: () => "fresh" }, { host: RFC_HOST, port: 587 }),
    );
    await client.start();
    expect(b64(client.step(unb64(SMTP_ERROR)))).toBe("AQ==");
    expect(client.failureDetail).toEqual({ status: "401", schemes: "bearer", scope: "https://mail.example.com/" });
    expect(client.retryWithFreshCredentials).toBe(true);
  });

  it("a status that is not a token refusal asks for no retry, even with a provider", async () => {
    const client = new OAuthBearerClient(clientContext({ token: "t", tokenProvider: () => "fresh" }));
    await client.start();
    client.step(utf8('{"status":"insufficient_scope","scope":"mail"}'));
    expect(client.failureDetail).toEqual({ status: "insufficient_scope", scope: "mail" });
    expect(client.retryWithFreshCredentials).toBe(false);
  });
});

describe("OAUTHBEARER server: RFC 7628 §4 vectors", () => {
  it("§4.1: accepts the RFC message and names the token's owner", async () => {
    const v = verifier({ [RFC_TOKEN]: RFC_USER });
    const server = new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken }));
    expect(await server.start(unb64(IMAP_IR))).toEqual({ type: "success", identity: { authcid: RFC_USER, authzid: RFC_USER } });
    expect(v.seen).toEqual([{ user: RFC_USER, token: RFC_TOKEN }]);
    await expect(server.step(new Uint8Array(0))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("§4.3: sends the JSON error byte for byte, waits for 0x01, then fails", async () => {
    const v = verifier({}, { valid: false, status: "invalid_token", scope: "example_scope" });
    const server = new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken }, { oauth: { openidConfiguration: OPENID } }));
    const first = await server.start(unb64(IMAP_IR));
    expect(first.type).toBe("challenge");
    expect(first.type === "challenge" && b64(first.data)).toBe(IMAP_ERROR);
    expect(await server.step(unb64("AQ=="))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("§4.4: the SMTP error with schemes, byte for byte", async () => {
    const v = verifier({}, { valid: false, status: "401", schemes: "bearer", scope: "https://mail.example.com/" });
    const server = new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken }));
    const first = await server.start(unb64(SMTP_IR));
    expect(first.type === "challenge" && b64(first.data)).toBe(SMTP_ERROR);
  });

  it("answers anything but 0x01 after its error with invalid-response", async () => {
    const server = new OAuthBearerServer(serverContext({ verifyToken: () => ({ valid: false, status: "invalid_token" }) }));
    await server.start(unb64(SMTP_IR));
    expect(await server.step(new Uint8Array(0))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("without an initial response sends an empty challenge and takes the message as the response", async () => {
    const server = new OAuthBearerServer(serverContext({ verifyToken: verifier({ [RFC_TOKEN]: RFC_USER }).verifyToken }));
    const first = await server.start(null);
    expect(first).toEqual({ type: "challenge", data: new Uint8Array(0) });
    expect(await server.step(unb64(SMTP_IR))).toMatchObject({ type: "success", identity: { authcid: RFC_USER } });
  });

  it("fails when it has no token verifier", async () => {
    const server = new OAuthBearerServer(serverContext({}));
    expect(await server.start(unb64(SMTP_IR))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("refuses an a= identity other than the token's owner unless authorize allows it", async () => {
    const msg = utf8("n,a=boss,\x01auth=Bearer tok\x01\x01");
    const refused = new OAuthBearerServer(serverContext({ verifyToken: verifier({ tok: "alice" }).verifyToken }));
    expect(await refused.start(msg)).toMatchObject({ type: "failure", code: "authorization-failed" });
    const allowed = new OAuthBearerServer(
      serverContext({ verifyToken: verifier({ tok: "alice" }).verifyToken, authorize: (a, z) => a === "alice" && z === "boss" }),
    );
    expect(await allowed.start(msg)).toEqual({ type: "success", identity: { authcid: "alice", authzid: "boss" } });
  });

  it("passes an empty user to the verifier when the client sent no a=", async () => {
    const v = verifier({ tok: "alice" });
    const server = new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken }));
    expect(await server.start(utf8("n,,\x01auth=Bearer tok\x01\x01"))).toEqual({ type: "success", identity: { authcid: "alice", authzid: "alice" } });
    expect(v.seen[0]?.user).toBe("");
  });

  it("accepts y, unknown keys and a case-insensitive Bearer scheme", async () => {
    const server = new OAuthBearerServer(serverContext({ verifyToken: verifier({ tok: "alice" }).verifyToken }));
    expect(await server.start(utf8("y,a=alice,\x01host=h\x01port=1\x01x=y z\x01auth=bearer tok\x01\x01"))).toMatchObject({ type: "success" });
  });

  const malformed: [string, Uint8Array][] = [
    ["invalid UTF-8", Uint8Array.of(0x6e, 0x2c, 0x2c, 0x01, 0xff, 0x01, 0x01)],
    ["no trailing 0x01 0x01", utf8("n,,\x01auth=Bearer tok\x01")],
    ["only the header", utf8("n,,")],
    ["no GS2 header", utf8("\x01auth=Bearer tok\x01\x01")],
    ["unknown GS2 flag", utf8("x,,\x01auth=Bearer tok\x01\x01")],
    ["channel binding flag p", utf8("p=tls-unique,,\x01auth=Bearer tok\x01\x01")],
    ["bad saslname escape", utf8("n,a=al=41ice,\x01auth=Bearer tok\x01\x01")],
    ["empty a=", utf8("n,a=,\x01auth=Bearer tok\x01\x01")],
    ["no auth pair", utf8("n,,\x01host=h\x01\x01")],
    ["duplicate key", utf8("n,,\x01auth=Bearer tok\x01auth=Bearer tok\x01\x01")],
    ["pair without =", utf8("n,,\x01auth\x01\x01")],
    ["key with a digit", utf8("n,,\x01k1=v\x01auth=Bearer tok\x01\x01")],
    ["not a Bearer scheme", utf8("n,,\x01auth=Basic dG9r\x01\x01")],
    ["token outside b64token", utf8("n,,\x01auth=Bearer t*k\x01\x01")],
    ["empty message", new Uint8Array(0)],
  ];
  it.each(malformed)("refuses a malformed client message: %s", async (_case, message) => {
    let called = false;
    const server = new OAuthBearerServer(
      serverContext({
        verifyToken: () => {
          called = true;
          return { valid: true, user: "alice" };
        },
      }),
    );
    const step = await server.start(message);
    expect(step).toMatchObject({ type: "failure", code: "invalid-response" });
    expect(step.type === "failure" && step.message).toMatch(/^OAUTHBEARER: .+\.$/);
    expect(called).toBe(false);
  });

  it("decodes =2C and =3D in a=", async () => {
    const v = verifier({ tok: "a,b=c" });
    const server = new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken }));
    expect(await server.start(utf8("n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01"))).toMatchObject({ type: "success", identity: { authzid: "a,b=c" } });
  });
});

describe("OAUTHBEARER client against the server half", () => {
  it("authenticates through runExchange and pairedExchange", async () => {
    const server = new OAuthBearerServer(serverContext({ verifyToken: verifier({ [RFC_TOKEN]: RFC_USER }).verifyToken }));
    const exchange = pairedExchange(server);
    const client = oauthBearer.createClient(clientContext({ username: RFC_USER, token: RFC_TOKEN }, { host: RFC_HOST, port: 587 }));
    expect(await runExchange(client, exchange)).toBe(0);
    expect(exchange.outcome).toEqual({ identity: { authcid: RFC_USER, authzid: RFC_USER } });
    expect(b64(exchange.sent[0])).toBe(SMTP_IR);
  });

  it("round-trips a user name with , and = through saslname escaping", async () => {
    const user = "a,b=c";
    const server = new OAuthBearerServer(serverContext({ verifyToken: verifier({ tok: user }).verifyToken }));
    const exchange = pairedExchange(server);
    const client = new OAuthBearerClient(clientContext({ username: user, token: "tok" }));
    await runExchange(client, exchange);
    expect(Buffer.from(exchange.sent[0] as Uint8Array).toString()).toBe("n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01");
    expect(exchange.outcome?.identity).toEqual({ authcid: user, authzid: user });
  });

  it("uses the authzid in a= when one is given", async () => {
    const client = new OAuthBearerClient(clientContext({ username: "alice", authzid: "boss", token: "tok" }));
    expect(Buffer.from(await client.start()).toString()).toBe("n,a=boss,\x01auth=Bearer tok\x01\x01");
  });

  it("a refused token fails with the server's reply and the decoded JSON, after sending 0x01 (not a cancel)", async () => {
    const server = new OAuthBearerServer(serverContext({ verifyToken: () => ({ valid: false, status: "invalid_token", scope: "mail" }) }));
    const exchange = pairedExchange(server);
    const client = new OAuthBearerClient(clientContext({ username: "alice", token: "tok" }));
    const error = await runExchange(client, exchange).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error).toMatchObject({ code: "authentication-failed", mechanism: "OAUTHBEARER", detail: { status: "invalid_token", scope: "mail" } });
    expect(exchange.sent.map(b64)).toEqual([b64(utf8("n,a=alice,\x01auth=Bearer tok\x01\x01")), "AQ=="]);
    expect(exchange.outcome).toEqual({ failure: "authentication-failed" });
  });
});

describe("OAUTHBEARER token refresh through core's authenticate", () => {
  const setup = (tokenProvider?: (r: { refresh: boolean; username?: string }) => string, accept: Record<string, string> = { fresh: "alice" }) => {
    const v = verifier(accept);
    const { exchange, log } = freshServerPerAttempt(() => new OAuthBearerServer(serverContext({ verifyToken: v.verifyToken })));
    const negotiation = planNegotiation([oauthBearer], {
      offered: ["OAUTHBEARER"],
      credentials: { username: "alice", token: "expired", ...(tokenProvider ? { tokenProvider } : {}) },
      channel: { secure: true, host: "mail.example.com", port: 993 },
    });
    return { exchange, log, negotiation, seen: v.seen };
  };

  it("retries once with a fresh token after invalid_token and succeeds", async () => {
    const calls: { refresh: boolean; username?: string }[] = [];
    const { exchange, log, negotiation, seen } = setup((r) => {
      calls.push(r);
      return "fresh";
    });
    const result = await authenticate(negotiation, exchange);
    expect(result).toMatchObject({ mechanism: "OAUTHBEARER", attempts: [{ mechanism: "OAUTHBEARER" }] });
    expect(calls).toEqual([{ refresh: true, username: "alice" }]);
    expect(seen.map((s) => s.token)).toEqual(["expired", "fresh"]);
    expect(log.begins).toBe(2);
    expect(b64(log.sent[1])).toBe("AQ==");
  });

  it("retries at most once when the fresh token is refused too", async () => {
    let calls = 0;
    const { exchange, log, negotiation, seen } = setup(() => {
      calls++;
      return "also-expired";
    });
    const error = await authenticate(negotiation, exchange).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "authentication-failed", detail: { status: "invalid_token" } });
    expect(calls).toBe(1);
    expect(log.begins).toBe(2);
    expect(seen.map((s) => s.token)).toEqual(["expired", "also-expired"]);
  });

  it("does not retry without a token provider", async () => {
    const { exchange, log, negotiation } = setup(undefined);
    await expect(authenticate(negotiation, exchange)).rejects.toMatchObject({ code: "authentication-failed" });
    expect(log.begins).toBe(1);
  });
});

describe("OAUTHBEARER client: the server's error JSON", () => {
  const started = async (input: CredentialsInput = { token: "tok", tokenProvider: () => "fresh" }) => {
    const client = new OAuthBearerClient(clientContext(input));
    await client.start();
    return client;
  };

  it.each([
    ["not JSON", utf8("this is not json")],
    ["invalid UTF-8", Uint8Array.of(0x7b, 0xff, 0x7d)],
    ["an empty challenge", new Uint8Array(0)],
    ["a JSON array", utf8('["invalid_token"]')],
    ["an object without status", utf8('{"scope":"x"}')],
    ["a status that is an object", utf8('{"status":{"a":1}}')],
  ])("still answers 0x01 to %s and records status malformed", async (_case, challenge) => {
    const client = await started();
    expect(Array.from(client.step(challenge))).toEqual([0x01]);
    expect(client.failureDetail).toEqual({ status: "malformed" });
    expect(client.retryWithFreshCredentials).toBe(false);
  });

  it("sends 0x01 over the wire for malformed JSON, and the final failure carries the malformed detail", async () => {
    const sent: (Uint8Array | null)[] = [];
    const failure: ServerEvent = { type: "failure", code: "authentication-failed", reply: { status: "535", enhanced: "5.7.8", text: "Authentication failed" } };
    const exchange: SaslExchange = {
      async begin(_m, ir) {
        sent.push(ir);
        return { type: "challenge", data: utf8("{oops") };
      },
      async respond(r) {
        sent.push(r);
        return failure;
      },
      async cancel() {
        throw new Error("the client must abort with 0x01, not cancel");
      },
    };
    const error = await runExchange(new OAuthBearerClient(clientContext({ token: "tok" })), exchange).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "authentication-failed", detail: { status: "malformed" }, reply: { status: "535" } });
    expect(b64(sent[1])).toBe("AQ==");
  });

  it("keeps numeric status as a string and drops non-scalar members", async () => {
    const client = await started();
    client.step(utf8('{"status":401,"scope":"s","nested":{"a":1},"list":[1]}'));
    expect(client.failureDetail).toEqual({ status: "401", scope: "s" });
    expect(client.retryWithFreshCredentials).toBe(true);
  });

  it("keeps at most 32 members of a bloated error object", async () => {
    const client = await started();
    const bloated: Record<string, string> = { status: "invalid_token" };
    for (let i = 0; i < 100; i++) bloated[`k${i}`] = "v";
    client.step(utf8(JSON.stringify(bloated)));
    expect(Object.keys(client.failureDetail ?? {})).toHaveLength(32);
    expect(client.failureDetail?.["status"]).toBe("invalid_token");
  });

  it("drops a member that echoes the token", async () => {
    const client = await started({ token: "s3cr3t-token" });
    client.step(utf8('{"status":"invalid_token","debug":"got Bearer s3cr3t-token"}'));
    expect(client.failureDetail).toEqual({ status: "invalid_token" });
  });

  it("drops the token echoed in the status or in a member's name", async () => {
    const client = await started({ token: "s3cr3t-token" });
    client.step(utf8('{"status":"bad token s3cr3t-token","scope":"s"}'));
    expect(JSON.stringify(client.failureDetail)).not.toContain("s3cr3t-token");
    expect(client.failureDetail).toEqual({ status: "malformed" });
    const other = await started({ token: "s3cr3t-token" });
    other.step(utf8('{"status":"invalid_token","s3cr3t-token":"seen"}'));
    expect(other.failureDetail).toEqual({ status: "invalid_token" });
  });

  it("bounds each kept text in bytes and replaces control characters", async () => {
    const client = await started();
    client.step(utf8(JSON.stringify({ status: "invalid_token\u001b[2J", scope: "x".repeat(50_000), ["k\u0007".repeat(200)]: "v" })));
    const detail = client.failureDetail ?? {};
    expect(JSON.stringify(detail).length).toBeLessThan(2_000);
    expect(JSON.stringify(detail)).not.toMatch(/\\u00(0|1)/);
    expect(String(detail["status"])).toBe("invalid_token?[2J");
  });

  it("reports success after its own error as server-error", async () => {
    const client = await started();
    client.step(utf8('{"status":"invalid_token"}'));
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "server-error" }));
  });
});

describe("OAUTHBEARER client: inputs and states", () => {
  it("omits host and port when the channel does not know them", async () => {
    const client = new OAuthBearerClient(clientContext({ token: "tok" }));
    expect(Buffer.from(await client.start()).toString()).toBe("n,,\x01auth=Bearer tok\x01\x01");
  });

  it("asks a token provider for a normal token first, and for a fresh one only on the retry", async () => {
    const calls: boolean[] = [];
    const input: CredentialsInput = { tokenProvider: ({ refresh }) => (calls.push(refresh), refresh ? "new" : "old") };
    const credentials = Credentials.from(input);
    const first = new OAuthBearerClient({ ...clientContext({}), credentials });
    expect(Buffer.from(await first.start()).toString()).toContain("Bearer old");
    const retry = new OAuthBearerClient({ ...clientContext({}), credentials, freshCredentials: true });
    expect(Buffer.from(await retry.start()).toString()).toContain("Bearer new");
    expect(calls).toEqual([false, true]);
  });

  it("fails with missing-credentials when there is no token", async () => {
    await expect(new OAuthBearerClient(clientContext({ username: "alice" })).start()).rejects.toMatchObject({ code: "missing-credentials" });
  });

  it("fails with missing-credentials on a refresh when no fresh token can be had", async () => {
    await expect(new OAuthBearerClient(clientContext({ token: "tok" }, {}, true)).start()).rejects.toMatchObject({ code: "missing-credentials" });
  });

  it.each([
    ["a space", "abc def"],
    ["0x01", "abc\x01def"],
    ["a newline", "abc\ndef"],
    ["a non-ASCII letter", "abcédef"],
    ["= in the middle", "ab=cd"],
  ])("refuses a token containing %s", async (_case, token) => {
    const error = await new OAuthBearerClient(clientContext({ token })).start().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "invalid-credentials-input" });
    expect((error as Error).message).not.toContain(token);
  });

  it("refuses a user name with control characters and a bad port", async () => {
    await expect(new OAuthBearerClient(clientContext({ username: "a\x01b", token: "tok" })).start()).rejects.toMatchObject({ code: "invalid-credentials-input" });
    await expect(new OAuthBearerClient(clientContext({ token: "tok" }, { port: 70000 })).start()).rejects.toMatchObject({ code: "invalid-credentials-input" });
    await expect(new OAuthBearerClient(clientContext({ token: "tok" }, { host: "a\x01b" })).start()).rejects.toMatchObject({ code: "invalid-credentials-input" });
  });

  it("refuses calls out of order", async () => {
    const client = new OAuthBearerClient(clientContext({ token: "tok" }));
    expect(() => client.step(new Uint8Array(0))).toThrow(expect.objectContaining({ code: "bad-state" }));
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "bad-state" }));
    await client.start();
    await expect(client.start()).rejects.toMatchObject({ code: "bad-state" });
    client.finish(null);
    expect(() => client.finish(null)).toThrow(expect.objectContaining({ code: "bad-state" }));
  });
});

describe("OAUTHBEARER never reveals the token", () => {
  const TOKEN = "sEcReT.t0ken_value-xyz";
  const TOKEN_B64 = Buffer.from(TOKEN).toString("base64");

  it("in no error message, inspect output or failure detail", async () => {
    const errors: unknown[] = [];
    const catchIt = async (p: Promise<unknown>) => errors.push(await p.then(() => undefined, (e: unknown) => e));
    // Server refusal with an echoing server.
    const echo: SaslExchange = {
      begin: async () => ({ type: "challenge", data: utf8(JSON.stringify({ status: "invalid_token", echo: `Bearer ${TOKEN}`, b: TOKEN_B64 })) }),
      respond: async () => ({ type: "failure", code: "authentication-failed", reply: { status: "NO", text: "AUTHENTICATE failed" } }),
      cancel: async () => ({ type: "failure", code: "aborted", reply: { status: "BAD", text: "cancelled" } }),
    };
    await catchIt(runExchange(new OAuthBearerClient(clientContext({ username: "alice", token: TOKEN })), echo));
    // Refused by the real server half, via authenticate.
    const server = new OAuthBearerServer(serverContext({ verifyToken: () => ({ valid: false, status: "invalid_token" }) }));
    const plan = planNegotiation([oauthBearer], { offered: ["OAUTHBEARER"], credentials: { username: "alice", token: TOKEN }, channel: { secure: true } });
    await catchIt(authenticate(plan, pairedExchange(server)));
    // Invalid token characters.
    await catchIt(new OAuthBearerClient(clientContext({ token: `${TOKEN} x` })).start());
    // Bad state after use.
    const used = new OAuthBearerClient(clientContext({ token: TOKEN }));
    await used.start();
    await catchIt(Promise.resolve().then(() => used.start()));
    expect(errors).toHaveLength(4);
    for (const error of errors) {
      expect(error).toBeInstanceOf(SaslError);
      const e = error as SaslError;
      // JSON.stringify(error) itself throws after authenticate: core's attempts[].error points back at the error.
      const printed = `${e.message}\n${inspect(e, { depth: 10 })}\n${JSON.stringify({ detail: e.detail, reply: e.reply })}`;
      expect(printed).not.toContain(TOKEN);
      expect(printed).not.toContain(TOKEN_B64);
    }
    expect(inspect(used, { depth: 10 })).not.toContain(TOKEN);
  });
});

describe("OAUTHBEARER provider", () => {
  it("declares the project's descriptor", () => {
    expect(oauthBearer).toMatchObject({
      name: "OAUTHBEARER",
      priority: 650,
      clientFirst: true,
      needs: [TOKEN],
      security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
    });
    expect(oauthBearer.explicitOnly).toBeFalsy();
  });

  it("gives a fresh client and server per exchange", () => {
    const ctx = clientContext({ token: "tok" });
    expect(oauthBearer.createClient(ctx)).not.toBe(oauthBearer.createClient(ctx));
    const sctx = serverContext({});
    expect(oauthBearer.createServer?.(sctx)).toBeInstanceOf(OAuthBearerServer);
    expect(oauthBearer.createServer?.(sctx)).not.toBe(oauthBearer.createServer?.(sctx));
  });

  it("registers into a tsyringe container", () => {
    const child = container.createChildContainer();
    registerOAuthBearer(child);
    expect(MechanismRegistry.fromContainer(child).get("OAUTHBEARER")).toBe(oauthBearer);
  });
});

describe("overlapping calls on one exchange (public API; the driver never makes them)", () => {
  it("a second start, or a step, while the token is fetched is bad-state; one token fetched, one message", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const tokenProvider = () => (asked++, new Promise<string>((resolve) => (release = resolve)));
    const client = new OAuthBearerClient(clientContext({ username: RFC_USER, tokenProvider }, { host: RFC_HOST, port: 587 }));
    const first = client.start();
    await expect(client.start()).rejects.toMatchObject({ code: "bad-state", mechanism: "OAUTHBEARER" });
    expect(() => client.step(unb64(SMTP_ERROR))).toThrow(expect.objectContaining({ code: "bad-state" }));
    release(RFC_TOKEN);
    expect(b64(await first)).toBe(SMTP_IR);
    expect(asked).toBe(1);
    expect(client.complete).toBe(true);
    client.finish(null);
  });
});
