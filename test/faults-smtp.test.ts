/**
 * Fault injection against the SMTP client (issue 6): a hostile server drops, stalls, drips, floods,
 * garbles or lies at every phase. Each case checks: the client ends with the right typed error
 * within its (short) timeouts, frees its socket and timers, never reports a message as sent
 * without the server's final 250, and never downgrades (cleartext, weaker mechanism) against policy.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SmtpClient, SmtpError, sendMail, type SmtpClientOptions } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
import { login } from "@saslkit/mech-login";
import { scramSha256, scramSha256Plus } from "@saslkit/mech-scram";
import { testCertificates } from "@saslkit/test-kit";
import { startHostileServer, smtpResponder, type FaultAction, type HostileServer } from "./hardening/hostile-server.js";
import { handleCounts, leaked, settleHandles } from "./hardening/handles.js";
import { PASSWORD } from "./hardening/secrets.js";

const TIMEOUTS = { connect: 1000, reply: 400, data: 800 };
const MESSAGE = "From: a@hostile.test\r\nTo: b@hostile.test\r\nSubject: fault\r\n\r\nbody line 1\r\nbody line 2\r\n";
const ENVELOPE = { from: "a@hostile.test", to: ["b@hostile.test"] };

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function options(port: number, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions {
  return {
    host: "127.0.0.1",
    port,
    tls: "none",
    ehloName: "client.hostile.test",
    auth: { username: "user", password: PASSWORD },
    mechanisms: [plain, login],
    policy: { force: "PLAIN" },
    timeouts: TIMEOUTS,
    maxRounds: 4,
    ...extra,
  };
}

interface Outcome {
  readonly sent: boolean;
  readonly error?: SmtpError;
  readonly ms: number;
}

/** Runs one send against a hostile server; asserts the universal properties; returns what happened. */
async function runSend(fault: { phase: string; action: FaultAction } | undefined, extra: Partial<SmtpClientOptions> = {}, responderOpts: Parameters<typeof smtpResponder>[0] = {}): Promise<Outcome> {
  const before = handleCounts();
  const certs = await testCertificates();
  server = await startHostileServer(smtpResponder(responderOpts), { tls: { key: certs.key, cert: certs.cert }, ...(fault ? { fault } : {}) });
  const started = Date.now();
  let outcome: Outcome;
  try {
    const result = await sendMail(options(server.port, extra), MESSAGE, ENVELOPE);
    outcome = { sent: true, ms: Date.now() - started };
    // Sent only with the server's confirmation.
    expect(result.reply.code).toBe(250);
    expect(server.phases.some((p) => p === "final" || p === "!final")).toBe(true);
  } catch (error) {
    outcome = { sent: false, error: error as SmtpError, ms: Date.now() - started };
    expect(error).toBeInstanceOf(SmtpError);
  }
  // Never a hang: every case ends within a small multiple of the configured deadlines.
  expect(outcome.ms).toBeLessThan(5000);
  // The client freed its socket: the server saw it close, and no socket or timer is left behind.
  await server.allClosed(2000);
  expect(leaked(before, await settleHandles(before))).toEqual([]);
  return outcome;
}

type Case = readonly [phase: string, action: FaultAction, expected: "sent" | { phase: string; code: string | readonly string[] }];

const CASES: readonly Case[] = [
  ["greeting", "close", { phase: "greeting", code: "closed" }],
  ["greeting", "stall", { phase: "greeting", code: "timeout" }],
  ["greeting", "drip", "sent"],
  ["greeting", "huge", { phase: "greeting", code: "line-too-long" }],
  ["greeting", "garbage", { phase: "greeting", code: "malformed-reply" }],
  ["ehlo", "close", { phase: "ehlo", code: "closed" }],
  ["ehlo", "stall", { phase: "ehlo", code: "timeout" }],
  ["ehlo", "drip", "sent"],
  ["ehlo", "huge", { phase: "ehlo", code: "line-too-long" }],
  ["ehlo", "garbage", { phase: "ehlo", code: "malformed-reply" }],
  ["ehlo", "wrong-code", { phase: "ehlo", code: "rejected" }],
  ["auth", "close", { phase: "authenticate", code: "closed" }],
  ["auth", "stall", { phase: "authenticate", code: "timeout" }],
  ["auth", "drip", "sent"],
  ["auth", "huge", { phase: "authenticate", code: "line-too-long" }],
  ["auth", "garbage", { phase: "authenticate", code: "malformed-reply" }],
  ["auth", "wrong-code", { phase: "authenticate", code: "protocol-error" }],
  ["auth", "loop", { phase: "authenticate", code: ["too-many-rounds", "invalid-challenge", "bad-state"] }],
  ["mail", "close", { phase: "mail", code: "closed" }],
  ["mail", "stall", { phase: "mail", code: "timeout" }],
  ["mail", "garbage", { phase: "mail", code: "malformed-reply" }],
  ["rcpt", "close", { phase: "rcpt", code: "closed" }],
  ["data", "close", { phase: "data", code: "closed" }],
  ["data", "stall", { phase: "data", code: "timeout" }],
  ["data", "wrong-code", { phase: "data", code: "rejected" }],
  // The whole body and its dot were already written when the close arrives: the client cannot
  // tell whether the server read the dot, so the outcome is unknown (closed if it could tell).
  ["body", "close", { phase: "data", code: ["closed", "outcome-unknown"] }],
  // Dropped or silent after the final dot: the server may have the message (RFC 1047).
  ["final", "close", { phase: "data", code: "outcome-unknown" }],
  ["final", "stall", { phase: "data", code: "outcome-unknown" }],
  ["final", "huge", { phase: "data", code: "line-too-long" }],
  ["final", "garbage", { phase: "data", code: "malformed-reply" }],
  ["final", "drip", "sent"],
  ["quit", "close", "sent"],
  ["quit", "stall", "sent"],
];

describe("faults: SMTP client against a hostile server", () => {
  it("baseline: the honest responder accepts the message", async () => {
    const outcome = await runSend(undefined);
    expect(outcome.sent).toBe(true);
  });

  for (const [phase, action, expected] of CASES) {
    it(`${action} at ${phase}: ${expected === "sent" ? "still sent" : `SmtpError ${expected.phase}/${[expected.code].flat().join("|")}`}`, async () => {
      const outcome = await runSend({ phase, action });
      if (expected === "sent") {
        expect(outcome.error?.message).toBeUndefined();
        expect(outcome.sent).toBe(true);
        return;
      }
      expect(outcome.sent).toBe(false);
      expect({ phase: outcome.error!.phase, code: outcome.error!.code }).toEqual({ phase: expected.phase, code: expect.toSatisfy((c: string) => [expected.code].flat().includes(c)) });
      // Whatever broke, a message the server did not confirm is never reported as sent.
      if (["mail", "rcpt", "data", "body"].includes(phase)) expect(server!.phases).not.toContain("final");
    });
  }

  it("LOGIN: a drop inside the second AUTH round ends in a closed error, and the loop case cancels with '*'", async () => {
    const dropped = await runSend({ phase: "auth-round", action: "close" }, { policy: { force: "LOGIN" } });
    expect([dropped.error?.phase, dropped.error?.code]).toEqual(["authenticate", "closed"]);
    await server!.close();
    server = undefined;
    const looped = await runSend({ phase: "auth", action: "loop" }, { policy: { force: "LOGIN" } });
    expect(looped.error?.phase).toBe("authenticate");
    expect(server!.received).toContain("*");
  });

  it("a server looping on '334 ' is cut off at maxRounds and cancelled", async () => {
    const outcome = await runSend({ phase: "auth", action: "loop" }, { maxRounds: 3 });
    expect(outcome.error?.phase).toBe("authenticate");
    const authLines = server!.received.slice(server!.received.findIndex((l) => l.startsWith("AUTH ")));
    expect(authLines.length).toBeLessThanOrEqual(3 + 2);
    expect(authLines).toContain("*");
  });
});

describe("faults: SMTP TLS and downgrade policy", () => {
  it("STARTTLS required but stripped from EHLO: tls-required, and no AUTH or MAIL is sent in clear", async () => {
    const outcome = await runSend(undefined, { tls: "starttls" });
    expect([outcome.error?.phase, outcome.error?.code]).toEqual(["starttls", "tls-required"]);
    expect(server!.received.some((l) => /^(AUTH|MAIL)/i.test(l))).toBe(false);
  });

  it("STARTTLS offered, then the handshake gets garbage: tls-failed, nothing sent in clear after it", async () => {
    const certs = await testCertificates();
    const outcome = await runSend({ phase: "starttls", action: "tls-garbage" }, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }, { starttls: true });
    expect(outcome.error?.phase).toBe("starttls");
    expect(outcome.error?.code).toBe("tls-failed");
    expect(server!.received.some((l) => /^(AUTH|MAIL)/i.test(l))).toBe(false);
  });

  it("STARTTLS offered, then the connection is reset mid-handshake: a typed tls error", async () => {
    const certs = await testCertificates();
    const outcome = await runSend({ phase: "starttls", action: "tls-reset" }, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }, { starttls: true });
    expect(outcome.error?.phase).toBe("starttls");
    expect(["tls-failed", "closed"]).toContain(outcome.error?.code);
  });

  it("STARTTLS refused with tls \"starttls\": tls-required; nothing else goes out", async () => {
    const outcome = await runSend({ phase: "starttls", action: "wrong-code" }, { tls: "starttls" }, { starttls: true });
    expect([outcome.error?.phase, outcome.error?.code]).toEqual(["starttls", "tls-required"]);
    expect(server!.received.some((l) => /^(AUTH|MAIL)/i.test(l))).toBe(false);
  });

  it("TLS closed uncleanly after the secure EHLO: a typed error, never 'sent'", async () => {
    const certs = await testCertificates();
    const outcome = await runSend({ phase: "mail", action: "close" }, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }, { starttls: true });
    expect(outcome.sent).toBe(false);
    expect([outcome.error?.phase, outcome.error?.code]).toEqual(["mail", "closed"]);
  });

  it("cleartext policy 'never': PLAIN is not used on a plain connection even on loopback; no AUTH line goes out", async () => {
    const outcome = await runSend(undefined, { policy: { cleartext: "never" } });
    expect(outcome.error?.code).toBe("no-mechanism");
    expect(server!.received.some((l) => /^AUTH/i.test(l))).toBe(false);
  });

  it("-PLUS stripped from the offer with SCRAM-SHA-256-PLUS forced: no-mechanism, no weaker SCRAM tried", async () => {
    const outcome = await runSend(undefined, { mechanisms: [scramSha256, scramSha256Plus, plain], policy: { force: "SCRAM-SHA-256-PLUS" } }, { caps: ["AUTH SCRAM-SHA-256 PLAIN"] });
    expect(outcome.error?.code).toBe("no-mechanism");
    expect(server!.received.some((l) => /^AUTH/i.test(l))).toBe(false);
  });

  it("a refused password (535) is never retried with a weaker mechanism", async () => {
    server = await startHostileServer({
      greet: (c) => c.send("220 mx ESMTP"),
      line: (c, l) => {
        if (/^EHLO/i.test(l)) c.send("250-mx\r\n250 AUTH PLAIN LOGIN");
        else if (/^AUTH/i.test(l)) c.send("535 5.7.8 Authentication credentials invalid");
        else if (/^QUIT/i.test(l)) c.send("221 bye");
        else c.send("250 ok");
      },
    });
    const error = await SmtpClient.connect(options(server.port, { policy: {} })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).toBe("authentication-failed");
    expect(server.received.filter((l) => /^AUTH/i.test(l))).toHaveLength(1);
    await server.allClosed(2000);
  });
});
