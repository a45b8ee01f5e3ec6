/**
 * SmtpPool against a hostile scripted server (review round 3): each connection gets a behaviour
 * for each phase (greeting, EHLO, AUTH, MAIL, after the final dot), so the pool's rules can be
 * checked phase by phase: every send settles, no message is delivered twice, a failure after the
 * final dot is `outcome-unknown` and never retried, a permanent AUTH failure is not hammered.
 */
import { afterEach, describe, expect, it } from "vitest";
import { fakeServerOptions } from "./support/fake-smtp.js";
import { FakeSmtpServer, checkExactlyOnce, settle, type At, type Phase, type Settled, type Step } from "./support/fake-smtp-server.js";
import { QUEUED_STREAM_BYTES, SmtpError, createPool, type SmtpClientOptions } from "@saslkit/smtp";
import { Readable } from "node:stream";

type Act = "ok" | "421" | "drop" | "never" | "535" | "454";
interface Behaviour {
  greet?: Act;
  ehlo?: Act;
  auth?: Act;
  mail?: Act;
  data?: Act;
  dot?: Act;
}

/** What each act is on the wire. */
const STEPS: Record<Act, Step | undefined> = {
  ok: undefined,
  "421": { close: "421 4.3.2 closing\r\n" },
  drop: "drop",
  never: "stall",
  "535": { reply: "535 5.7.8 authentication failed\r\n" },
  "454": { reply: "454 4.7.0 temporary authentication failure\r\n" },
};

/** The fake pool server (test/support/fake-smtp-server.ts) acting out `behaviour(connection, message)` phase by phase. */
class HostileServer extends FakeSmtpServer {
  behaviour: (conn: number, message: number) => Behaviour = () => ({});

  constructor() {
    super("hostile.test");
  }

  protected override step(phase: Phase, at: At): Step | undefined {
    return STEPS[this.behaviour(at.connection, at.message)[phase] ?? "ok"];
  }
}

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const connection = (s: HostileServer, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => fakeServerOptions(s.port, extra);

const msg = (id: string) => `Message-ID: <${id}>\r\nSubject: ${id}\r\n\r\nbody ${id}\r\n`;
const env = { from: "a@example.org", to: ["b@example.org"] };

const ids = (n: number, p = "m") => Array.from({ length: n }, (_, i) => `${p}${i}@x`);

describe("SmtpPool against a hostile server", () => {
  it("a 535 to AUTH fails the waiting messages at once, and a steady sender does not make the pool retry AUTH in a loop", async () => {
    server = new HostileServer();
    await server.start();
    server.behaviour = () => ({ auth: "535" });
    const pool = createPool({ connection: connection(server), maxConnections: 1 });
    const t0 = Date.now();
    const first = await settle(pool.send(msg("first@x"), env), "first@x");
    expect(first.error?.code).toBe("authentication-failed");
    expect(first.error?.reply?.code).toBe(535);
    // One refusal is final: the pool does not try the same credentials again and again before giving up.
    expect(server.authAttempts).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1000);
    // An application that keeps sending (one message every 100 ms for 3 s) must not turn into an
    // AUTH storm (fail2ban-style lockouts): at most one attempt per longest pause (5 s).
    const later: Promise<Settled>[] = [];
    for (let i = 0; i < 30; i++) {
      later.push(settle(pool.send(msg(`s${i}@x`), env), `s${i}@x`));
      await new Promise((r) => setTimeout(r, 100));
    }
    const settled = await Promise.all(later);
    expect(server.authAttempts).toBeLessThanOrEqual(2);
    for (const r of settled) expect(r.error?.code, r.id).toBe("authentication-failed");
    await pool.close();
    checkExactlyOnce(server, [first, ...settled]);
  }, 20000);
  // Each phase of each connection failing in turn: every send settles within its deadlines, none
  // is delivered twice, and a failure after the final dot is reported as outcome-unknown, not retried.
  const quick = { timeouts: { connect: 300, reply: 300, data: 300 } };
  const phases: [string, (c: number) => Behaviour, string][] = [
    ["never greets", () => ({ greet: "never" }), "timeout"],
    ["421 greeting", () => ({ greet: "421" }), "rejected"],
    ["421 to EHLO", () => ({ ehlo: "421" }), "rejected"],
    ["421 to AUTH", () => ({ auth: "421" }), "*"],
    ["drop at AUTH", () => ({ auth: "drop" }), "closed"],
    ["454 to AUTH", () => ({ auth: "454" }), "temporary-failure"],
    ["no reply to AUTH", () => ({ auth: "never" }), "timeout"],
    ["421 to MAIL", () => ({ mail: "421" }), "closed"],
    ["drop at MAIL", () => ({ mail: "drop" }), "closed"],
    ["no reply to MAIL", () => ({ mail: "never" }), "timeout"],
    ["421 after the dot, first connection only", (c) => ({ dot: c === 1 ? "421" : "ok" }), "ok"],
    // (Links that never got an answer count as failed attempts: past maxConnectFailures the
    // messages still waiting fail as not sent, "closed".)
    ["drop after the dot", () => ({ dot: "drop" }), "*"],
    // (A message pipelined behind a stalled one never reaches its dot: "timeout", not delivered.)
    ["no reply after the dot", () => ({ dot: "never" }), "*"],
  ];
  for (const [name, behaviour, expected] of phases)
    it(`${name}: every send settles (${expected}), nothing twice`, async () => {
      server = new HostileServer();
      await server.start();
      server.behaviour = behaviour;
      const pool = createPool({ connection: connection(server, quick), maxConnections: 3, maxMessagesPerConnection: 2, maxConnectFailures: 2 });
      const settled = await Promise.all(ids(6).map((id) => settle(pool.send(msg(id), env), id)));
      await pool.close();
      checkExactlyOnce(server, settled);
      if (expected !== "*") for (const r of settled) expect(r.error?.code ?? "ok", r.id).toBe(expected);
      if (name.includes("after the dot") && expected !== "ok") {
        expect(settled.some((r) => r.error?.code === "outcome-unknown")).toBe(true);
        for (const r of settled) expect(["outcome-unknown", "timeout", "closed"], r.id).toContain(r.error?.code);
      }
      expect(pool.stats).toMatchObject({ connections: 0, queued: 0, inFlight: 0 });
    }, 15000);

  it("a server that logs in then says 421 to every MAIL is not hammered: a link that delivered nothing counts as a failed attempt (pause)", async () => {
    server = new HostileServer();
    await server.start();
    server.behaviour = () => ({ mail: "421" }); // a rate-limited account: "421 4.7.0 try again later"
    const pool = createPool({ connection: connection(server), maxConnections: 3 });
    const all: Promise<Settled>[] = [];
    for (let i = 0; i < 40; i++) {
      all.push(settle(pool.send(msg(`s${i}@x`), env), `s${i}@x`));
      await new Promise((r) => setTimeout(r, 50));
    }
    const settled = await Promise.all(all);
    await pool.close();
    checkExactlyOnce(server, settled);
    for (const r of settled) expect(r.error, r.id).toBeInstanceOf(SmtpError);
    // Before: three logins per message, 120 in 2 s. With pauses of 100 ms doubling up to 5 s
    // after each such link, a couple of seconds see a handful.
    expect(server.authAttempts).toBeLessThanOrEqual(12);
  }, 30000);

  it("close() while connections are still being made: every queued send settles, close resolves, later sends are refused", async () => {
    server = new HostileServer();
    await server.start();
    server.behaviour = () => ({ greet: "never" });
    const pool = createPool({ connection: connection(server, { timeouts: { connect: 300 } }), maxConnections: 2, maxConnectFailures: 2 });
    const all = ids(5).map((id) => settle(pool.send(msg(id), env), id));
    await new Promise((r) => setTimeout(r, 50));
    const closed = pool.close();
    const late = await settle(pool.send(msg("late@x"), env), "late@x");
    expect(late.error?.code).toBe("client-closed");
    for (const r of await Promise.all(all)) expect(r.error?.code, r.id).toBe("timeout");
    await closed;
    expect(pool.stats).toMatchObject({ connections: 0, queued: 0, inFlight: 0 });
  });

  it("maxQueuedBytes bounds the queue in bytes: a send past it is refused at once (queue-full, nothing sent), the queued ones all go, once", async () => {
    server = new HostileServer();
    await server.start();
    const size = Buffer.byteLength(msg(ids(1)[0]!));
    const pool = createPool({ connection: connection(server), maxConnections: 1, maxQueuedBytes: size * 4 });
    // Sent in one tick: nothing leaves the queue before the connection is up.
    const sends = ids(10).map((id) => settle(pool.send(msg(id), env), id));
    expect(pool.stats.queued).toBe(4);
    expect(pool.stats.queuedBytes).toBe(size * 4);
    const settled = await Promise.all(sends);
    checkExactlyOnce(server, settled);
    expect(settled.filter((r) => r.result).map((r) => r.id)).toEqual(ids(4));
    for (const r of settled.slice(4)) {
      expect(r.error).toBeInstanceOf(SmtpError);
      expect(r.error?.code).toBe("queue-full");
      expect(server.delivered.has(r.id)).toBe(false);
    }
    expect(pool.stats.queuedBytes).toBe(0);
    // Room again: the next send is taken.
    await expect(pool.send(msg("again@x"), env)).resolves.toMatchObject({ accepted: ["b@example.org"] });
    await pool.close();
  });

  it("maxQueuedBytes: a stream counts QUEUED_STREAM_BYTES, one message larger than the bound still goes alone, and the option is checked", async () => {
    server = new HostileServer();
    await server.start();
    const pool = createPool({ connection: connection(server), maxConnections: 1, maxQueuedBytes: QUEUED_STREAM_BYTES + 10 });
    const big = settle(pool.send("x".repeat(QUEUED_STREAM_BYTES * 2), env), "big");
    const stream = settle(pool.send(Readable.from([Buffer.from(msg("s@x"))]), env), "s@x");
    expect((await stream).error?.code).toBe("queue-full");
    expect((await big).result).toBeDefined();
    expect((await settle(pool.send(Readable.from([Buffer.from(msg("t@x"))]), env), "t@x")).result).toBeDefined();
    await pool.close();
    for (const bad of [0, -1, 1.5, "1000", Number.NaN]) {
      expect(() => createPool({ connection: connection(server!), maxQueuedBytes: bad as number }), String(bad)).toThrow(/maxQueuedBytes/);
    }
  });

  it("maxMessagesPerConnection 1: one connection per message, all delivered once", async () => {
    server = new HostileServer();
    await server.start();
    const pool = createPool({ connection: connection(server), maxConnections: 3, maxMessagesPerConnection: 1 });
    const settled = await Promise.all(ids(30).map((id) => settle(pool.send(msg(id), env), id)));
    await pool.close();
    checkExactlyOnce(server, settled);
    expect(settled.every((r) => r.result)).toBe(true);
    expect(server.connections).toBe(30);
  });

  it("rate limit under a burst: never more than N started in any window", async () => {
    server = new HostileServer();
    await server.start();
    const pool = createPool({ connection: connection(server), maxConnections: 3, rateLimit: { messages: 5, perMs: 200 } });
    const t0 = Date.now();
    const times: number[] = [];
    const settled = await Promise.all(ids(20).map((id) => settle(pool.send(msg(id), env).then((r) => (times.push(Date.now() - t0), r)), id)));
    await pool.close();
    checkExactlyOnce(server, settled);
    times.sort((a, b) => a - b);
    for (let i = 5; i < times.length; i++) expect(times[i]! - times[i - 5]!, `message ${i}`).toBeGreaterThanOrEqual(190);
  });
});
