/**
 * `client.sendMany`: many messages over one connection from an iterable or async iterable, with
 * the pipelining window chosen by the client and one outcome per message, in order. Against the
 * embedded server (@saslkit/smtp-server), which answers pipelined commands strictly in order.
 */
import { afterEach, describe, expect, it } from "vitest";
import { plain } from "@saslkit/mech-plain";
import { SmtpServer, type SmtpServerHandle } from "@saslkit/smtp-server";
import { SmtpClient, type OutgoingMessage, type SendOutcome, type SmtpClientOptions } from "@saslkit/smtp";

const USER = "alice";
const PASSWORD = "many-Secret-1";
let server: SmtpServerHandle | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(onMessage?: (data: Buffer) => void): Promise<SmtpServerHandle> {
  server = await SmtpServer.start({
    mechanisms: [plain],
    callbacks: { verifyPassword: (u: string, p: string) => u === USER && p === PASSWORD },
    requireAuth: true,
    keepMessages: 1000,
    ...(onMessage ? { onMessage: (_e: unknown, data: Buffer) => onMessage(data) } : {}),
  });
  return server;
}

const options = (s: SmtpServerHandle, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: s.host,
  port: s.port,
  tls: "none",
  ehloName: "client.example.org",
  auth: { username: USER, password: PASSWORD },
  mechanisms: [plain],
  ...extra,
});

const message = (i: number, to = "bob@example.org"): OutgoingMessage => ({
  message: `Subject: ${i}\r\nMessage-ID: <m${i}@example.org>\r\n\r\n.line ${i}\r\n`,
  envelope: { from: "alice@example.org", to: [to] },
});

describe("sendMany", () => {
  it("sends every message of a generator exactly once, in order, with one outcome each", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    expect(client.pipelining).toBe("full");
    function* source() {
      for (let i = 0; i < 60; i++) yield message(i);
    }
    const outcomes = [];
    for await (const o of client.sendMany(source())) outcomes.push(o);
    await client.quit();
    expect(outcomes.map((o) => o.index)).toEqual([...Array(60).keys()]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const subjects = s.messages.map((m) => /Subject: (\d+)/.exec(m.data.toString())![1]);
    expect(subjects).toEqual([...Array(60).keys()].map(String));
    // Dot-stuffing survived: the server un-stuffed back to one dot.
    expect(s.messages[7]!.data.toString()).toContain("\r\n.line 7\r\n");
  });

  it("takes an async iterable and keeps only a few messages in flight (the window it chose)", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    let taken = 0;
    let maxAhead = 0;
    let done = 0;
    async function* source() {
      for (let i = 0; i < 40; i++) {
        await new Promise((r) => setImmediate(r));
        taken++;
        maxAhead = Math.max(maxAhead, taken - done);
        yield message(i);
      }
    }
    for await (const o of client.sendMany(source())) {
      expect(o.ok).toBe(true);
      done++;
    }
    await client.quit();
    expect(done).toBe(40);
    expect(s.messages).toHaveLength(40);
    expect(maxAhead).toBeGreaterThan(1); // pipelined
    expect(maxAhead).toBeLessThanOrEqual(9); // bounded: the window (8) plus the one being taken
  });

  it("a refused message is reported and does not stop the others", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    const items = [message(0), message(1, "bad address@example.org"), message(2)];
    const outcomes = [];
    for await (const o of client.sendMany(items)) outcomes.push(o);
    await client.quit();
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    const failed = outcomes[1]!;
    if (failed.ok) throw new Error("unreachable");
    expect(failed.error.code).toBe("invalid-input");
    expect(failed.item).toBe(items[1]);
    expect(s.messages).toHaveLength(2);
  });

  it('works lock-step too (pipelining "off": window 1)', async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s, { pipelining: "off" }));
    expect(client.pipelining).toBe("off");
    let n = 0;
    for await (const o of client.sendMany([message(0), message(1), message(2)])) if (o.ok) n++;
    await client.quit();
    expect(n).toBe(3);
    expect(s.messages).toHaveLength(3);
  });

  it("stops taking messages once the connection is gone and leaves the source open", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    function* source() {
      for (let i = 0; i < 20; i++) yield message(i);
    }
    const it = source();
    const outcomes = [];
    for await (const o of client.sendMany(it)) {
      outcomes.push(o);
      if (outcomes.length === 2) await client.close();
    }
    // Messages already in flight when the client closed failed; nothing more was taken.
    expect(outcomes.filter((o) => o.ok).length).toBeGreaterThanOrEqual(2);
    expect(outcomes.length).toBeLessThan(20);
    for (const o of outcomes.slice(2)) expect(o.ok).toBe(false);
    const rest = [...it];
    expect(rest.length + outcomes.length).toBe(20);
    expect(rest.length).toBeGreaterThan(0);
  });

  it("behaves as an async generator: nothing taken before the first next, calls in order, return and throw close the source", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    let taken = 0;
    let closed = 0;
    const source = (): IterableIterator<OutgoingMessage> => {
      let i = 0;
      return {
        [Symbol.iterator]() {
          return this;
        },
        next: () => (i < 20 ? (taken++, { done: false, value: message(i++) }) : { done: true, value: undefined }),
        return: () => {
          closed++;
          return { done: true, value: undefined };
        },
      };
    };

    // Never started: return() takes nothing and leaves the source alone, like a generator's.
    const idle = client.sendMany(source());
    expect(await idle.return()).toEqual({ done: true, value: undefined });
    expect(await idle.next()).toEqual({ done: true, value: undefined });
    expect(taken).toBe(0);
    expect(closed).toBe(0);

    // Calls made without waiting settle in order, one outcome each.
    const many = client.sendMany(source());
    const steps = await Promise.all([many.next(), many.next(), many.next()]);
    expect(steps.map((r) => (r.done ? -1 : r.value.index))).toEqual([0, 1, 2]);
    expect(await many.return()).toEqual({ done: true, value: undefined });
    expect(closed).toBe(1);
    expect(await many.next()).toEqual({ done: true, value: undefined });

    // throw() ends it too, closing the source, and rejects with the error given.
    const thrown = client.sendMany(source());
    expect((await thrown.next()).done).toBe(false);
    const error = new Error("stop");
    await expect(thrown.throw(error)).rejects.toBe(error);
    expect(closed).toBe(2);
    expect(await thrown.next()).toEqual({ done: true, value: undefined });
    await client.quit();
  });

  it("a source that throws is closed and its error is the iteration's", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    let closed = false;
    const failing: Iterator<OutgoingMessage> & Iterable<OutgoingMessage> = {
      [Symbol.iterator]() {
        return this;
      },
      next: () => {
        throw new Error("source failed");
      },
      return: () => {
        closed = true;
        return { done: true, value: undefined };
      },
    };
    const it = client.sendMany(failing);
    await expect(it.next()).rejects.toThrow("source failed");
    expect(closed).toBe(true);
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await client.quit();
  });
  it("a source that fails after some messages were taken still reports each of those, then its error", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    expect(client.pipelining).toBe("full"); // a window of 8: all three are in flight when the source fails
    let closed = 0;
    function* failing(): Generator<OutgoingMessage> {
      try {
        for (let i = 0; i < 3; i++) yield message(i);
        throw new Error("source failed");
      } finally {
        closed++;
      }
    }
    const outcomes: SendOutcome[] = [];
    await expect(
      (async () => {
        for await (const o of client.sendMany(failing())) outcomes.push(o);
      })(),
    ).rejects.toThrow("source failed");
    expect(outcomes.map((o) => [o.index, o.ok])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
    expect(closed).toBe(1);
    await client.quit();
    expect(s.messages).toHaveLength(3); // each message the caller was told about, and no other
  });

  it("an async source that rejects after some messages were taken still reports each of those, then its error", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    let i = 0;
    const failing: AsyncIterable<OutgoingMessage> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          if (i === 2) throw new Error("queue lost");
          return { done: false, value: message(i++) };
        },
      }),
    };
    const it = client.sendMany(failing);
    const first = await it.next();
    const second = await it.next();
    expect([first.done, second.done]).toEqual([false, false]);
    expect(first.value && first.value.ok && first.value.index).toBe(0);
    expect(second.value && second.value.ok && second.value.index).toBe(1);
    await expect(it.next()).rejects.toThrow("queue lost");
    expect(await it.next()).toEqual({ done: true, value: undefined });
    await client.quit();
    expect(s.messages).toHaveLength(2);
  });
  it("an item that is not a message (null, a number) gets an invalid-input outcome; the others go, nothing is unhandled", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    const items = [message(0), null, message(2), 42, message(4)] as unknown as OutgoingMessage[];
    const outcomes = [];
    for await (const o of client.sendMany(items)) outcomes.push(o.ok ? "ok" : o.error.code);
    await client.quit();
    expect(outcomes).toEqual(["ok", "invalid-input", "ok", "invalid-input", "ok"]);
    expect(s.messages).toHaveLength(3);
  });
  it("a window that is not a number from 1 is refused (invalid-option), not read as 'take nothing'", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    for (const window of ["abc", Number.NaN, 0, null, "8"]) {
      const source = [message(0), message(1)][Symbol.iterator]();
      const it = client.sendMany(source, { window } as never);
      await expect(it.next()).rejects.toMatchObject({ code: "invalid-option", option: "window" });
      expect([...source]).toHaveLength(2); // nothing taken
    }
    const outcomes = [];
    for await (const o of client.sendMany([message(0), message(1)], { window: 1 })) outcomes.push(o.ok);
    expect(outcomes).toEqual([true, true]);
    await client.quit();
  });
});
