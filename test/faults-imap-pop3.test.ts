/**
 * Fault injection against the IMAP and POP3 clients (issue 6): drops, stalls, drips, 1 MB lines,
 * garbage, wrong statuses and `+` loops at each phase up to and inside AUTHENTICATE / AUTH, plus
 * STARTTLS/STLS stripped, refused and broken. Each case: the right typed error within the short
 * timeouts, the socket and timers freed, and no authentication reported without the server's OK.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ImapClient, ImapError, type ImapConnectOptions } from "@saslkit/imap";
import { Pop3Client, Pop3Error, type Pop3ConnectOptions } from "@saslkit/pop3";
import { plain } from "@saslkit/mech-plain";
import { login } from "@saslkit/mech-login";
import { testCertificates } from "@saslkit/test-kit";
import { imapResponder, pop3Responder, startHostileServer, type Fault, type FaultAction, type HostileServer, type Responder } from "./hardening/hostile-server.js";
import { handleCounts, leaked, settleHandles } from "./hardening/handles.js";
import { PASSWORD } from "./hardening/secrets.js";

// One deadline for the whole connect (authentication included) and one per reply.
const TIMEOUTS = { connect: 3000, reply: 400 };
let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

type Client = { logout?: () => Promise<void>; quit?: () => Promise<unknown>; authenticated?: boolean };
type Outcome = { ok: boolean; error?: ImapError | Pop3Error };

async function run(responder: Responder, fault: Fault | undefined, connect: (port: number) => Promise<Client>, errorClass: typeof ImapError | typeof Pop3Error): Promise<Outcome> {
  const before = handleCounts();
  const certs = await testCertificates();
  server = await startHostileServer(responder, { tls: { key: certs.key, cert: certs.cert }, ...(fault ? { fault } : {}) });
  const started = Date.now();
  let outcome: Outcome;
  try {
    const client = await connect(server.port);
    outcome = { ok: true };
    await (client.logout?.() ?? client.quit?.());
  } catch (error) {
    expect(error).toBeInstanceOf(errorClass);
    outcome = { ok: false, error: error as ImapError };
  }
  expect(Date.now() - started).toBeLessThan(5000);
  await server.allClosed(2000);
  expect(leaked(before, await settleHandles(before))).toEqual([]);
  return outcome;
}

const imapOptions = (port: number, extra: Partial<ImapConnectOptions> = {}): ImapConnectOptions => ({
  host: "127.0.0.1",
  port,
  tls: "none",
  auth: { username: "user", password: PASSWORD },
  mechanisms: [plain, login],
  login: "never",
  timeouts: TIMEOUTS,
  maxRounds: 3,
  ...extra,
});

const pop3Options = (port: number, extra: Partial<Pop3ConnectOptions> = {}): Pop3ConnectOptions => ({
  host: "127.0.0.1",
  port,
  tls: "none",
  auth: { username: "user", password: PASSWORD },
  mechanisms: [plain, login],
  timeouts: TIMEOUTS,
  maxRounds: 3,
  ...extra,
});

type Case = readonly [phase: string, action: FaultAction, expected: "ok" | { phase: string; code: string | readonly string[] }];

const IMAP_CASES: readonly Case[] = [
  ["greeting", "close", { phase: "greeting", code: "closed" }],
  ["greeting", "stall", { phase: "greeting", code: "timeout" }],
  ["greeting", "drip", "ok"],
  ["greeting", "huge", { phase: "greeting", code: "line-too-long" }],
  ["greeting", "garbage", { phase: "greeting", code: "protocol-error" }],
  ["capability", "close", { phase: "capability", code: "closed" }],
  ["capability", "stall", { phase: "capability", code: "timeout" }],
  ["capability", "drip", "ok"],
  ["capability", "huge", { phase: "capability", code: "line-too-long" }],
  ["capability", "garbage", { phase: "capability", code: "protocol-error" }],
  ["auth", "close", { phase: "authenticate", code: "closed" }],
  ["auth", "stall", { phase: "authenticate", code: "timeout" }],
  ["auth", "drip", "ok"],
  ["auth", "huge", { phase: "authenticate", code: "line-too-long" }],
  ["auth", "garbage", { phase: "authenticate", code: "protocol-error" }],
  ["auth", "wrong-code", { phase: "authenticate", code: "protocol-error" }],
  ["auth", "loop", { phase: "authenticate", code: ["too-many-rounds", "invalid-challenge", "bad-state"] }],
  ["logout", "close", "ok"],
  // Authenticated, then LOGOUT hangs: the logout's own deadline ends it with a typed timeout.
  ["logout", "stall", { phase: "logout", code: "timeout" }],
];

const POP3_CASES: readonly Case[] = [
  ["greeting", "close", { phase: "greeting", code: "closed" }],
  ["greeting", "stall", { phase: "greeting", code: "timeout" }],
  ["greeting", "drip", "ok"],
  ["greeting", "huge", { phase: "greeting", code: "line-too-long" }],
  ["greeting", "garbage", { phase: "greeting", code: "protocol-error" }],
  ["greeting", "wrong-code", { phase: "greeting", code: "protocol-error" }],
  ["capa", "close", { phase: "capability", code: "closed" }],
  ["capa", "stall", { phase: "capability", code: "timeout" }],
  ["capa", "drip", "ok"],
  ["capa", "huge", { phase: "capability", code: "line-too-long" }],
  ["auth", "close", { phase: "authenticate", code: "closed" }],
  ["auth", "stall", { phase: "authenticate", code: "timeout" }],
  ["auth", "drip", "ok"],
  ["auth", "huge", { phase: "authenticate", code: "line-too-long" }],
  ["auth", "garbage", { phase: "authenticate", code: "protocol-error" }],
  ["auth", "wrong-code", { phase: "authenticate", code: "protocol-error" }],
  ["auth", "loop", { phase: "authenticate", code: ["too-many-rounds", "invalid-challenge", "bad-state"] }],
  ["quit", "close", "ok"],
  ["quit", "stall", { phase: "quit", code: "timeout" }],
];

const label = (e: Case[2]) => (e === "ok" ? "still authenticates" : `${e.phase}/${[e.code].flat().join("|")}`);
function check(outcome: Outcome, expected: Case[2]): void {
  if (expected === "ok") {
    expect(outcome.error?.message).toBeUndefined();
    return;
  }
  expect(outcome.ok).toBe(false);
  expect(outcome.error!.phase).toBe(expected.phase);
  expect([expected.code].flat()).toContain(outcome.error!.code);
}

describe("faults: IMAP client against a hostile server", () => {
  for (const [phase, action, expected] of IMAP_CASES) {
    it(`${action} at ${phase}: ${label(expected)}`, async () => {
      check(await run(imapResponder(), { phase, action }, (port) => ImapClient.connect(imapOptions(port)), ImapError), expected);
    });
  }

  it("IMAP without SASL-IR: a drop inside the AUTHENTICATE round ends in a closed error", async () => {
    const o = await run(imapResponder({ caps: "IMAP4rev1 AUTH=PLAIN" }), { phase: "auth-round", action: "close" }, (port) => ImapClient.connect(imapOptions(port)), ImapError);
    check(o, { phase: "authenticate", code: "closed" });
  });

  it.each([
    ["with SASL-IR", undefined],
    ["without SASL-IR (the driver sends the message after the first +)", "IMAP4rev1 AUTH=PLAIN"],
  ])("a + loop after PLAIN's message, %s: bad-state, and the password went out once", async (_name, caps) => {
    const o = await run(imapResponder(caps ? { caps } : {}), { phase: "auth", action: "loop" }, (port) => ImapClient.connect(imapOptions(port)), ImapError);
    check(o, { phase: "authenticate", code: "bad-state" });
    const b64 = Buffer.from(`\0user\0${PASSWORD}`).toString("base64");
    expect(server!.received.filter((line) => line.includes(b64))).toHaveLength(1);
    expect(server!.received.at(-1)).toBe("*");
  });

  it("STARTTLS required but not offered: no AUTHENTICATE or LOGIN in clear", async () => {
    const o = await run(imapResponder(), undefined, (port) => ImapClient.connect(imapOptions(port, { tls: "starttls" })), ImapError);
    expect(o.ok).toBe(false);
    expect(o.error!.code).toBe("tls-required");
    expect(server!.received.some((l) => /AUTHENTICATE|LOGIN/i.test(l))).toBe(false);
  });

  it("STARTTLS answered OK, then the handshake gets garbage: a typed TLS error, nothing sent in clear after it", async () => {
    const certs = await testCertificates();
    const o = await run(imapResponder({ starttls: true }), { phase: "starttls", action: "tls-garbage" }, (port) => ImapClient.connect(imapOptions(port, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } })), ImapError);
    expect(o.ok).toBe(false);
    expect([o.error!.phase, o.error!.code]).toEqual(["starttls", "tls-failed"]);
    expect(server!.received.some((l) => /AUTHENTICATE|LOGIN/i.test(l))).toBe(false);
  });

  it("STARTTLS succeeds, then the TLS connection dies during AUTHENTICATE: closed, not authenticated", async () => {
    const certs = await testCertificates();
    const o = await run(imapResponder({ starttls: true }), { phase: "auth", action: "close" }, (port) => ImapClient.connect(imapOptions(port, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } })), ImapError);
    check(o, { phase: "authenticate", code: "closed" });
  });
});

describe("faults: POP3 client against a hostile server", () => {
  for (const [phase, action, expected] of POP3_CASES) {
    it(`${action} at ${phase}: ${label(expected)}`, async () => {
      check(await run(pop3Responder(), { phase, action }, (port) => Pop3Client.connect(pop3Options(port)), Pop3Error), expected);
    });
  }

  it("a + loop after PLAIN's message: bad-state, and the password went out once", async () => {
    const o = await run(pop3Responder(), { phase: "auth", action: "loop" }, (port) => Pop3Client.connect(pop3Options(port)), Pop3Error);
    check(o, { phase: "authenticate", code: "bad-state" });
    const b64 = Buffer.from(`\0user\0${PASSWORD}`).toString("base64");
    expect(server!.received.filter((line) => line.includes(b64))).toHaveLength(1);
    expect(server!.received.at(-1)).toBe("*");
  });

  it("STLS required but not offered: no AUTH or PASS in clear", async () => {
    const o = await run(pop3Responder(), undefined, (port) => Pop3Client.connect(pop3Options(port, { tls: "starttls" })), Pop3Error);
    expect(o.ok).toBe(false);
    expect(o.error!.code).toBe("tls-required");
    expect(server!.received.some((l) => /^(AUTH|PASS|USER)/i.test(l))).toBe(false);
  });

  it("STLS answered +OK, then the handshake is reset: a typed TLS error, nothing sent in clear", async () => {
    const certs = await testCertificates();
    const o = await run(pop3Responder({ stls: true }), { phase: "stls", action: "tls-reset" }, (port) => Pop3Client.connect(pop3Options(port, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } })), Pop3Error);
    expect(o.ok).toBe(false);
    expect(o.error!.phase).toBe("starttls");
    expect(["tls-failed", "closed"]).toContain(o.error!.code);
    expect(server!.received.some((l) => /^(AUTH|PASS|USER)/i.test(l))).toBe(false);
  });
});
