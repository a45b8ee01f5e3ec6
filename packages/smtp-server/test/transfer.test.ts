/**
 * Message transfer: BDAT (RFC 3030 CHUNKING, BINARYMIME) with raw sockets, the onData stream
 * (issue 10 item 2: a Readable, size limit on bytes, backpressure, never a deadlock), and the
 * bounded store.
 */
import { describe, expect, it } from "vitest";
import { MessageTooLargeError } from "../src/index.js";
import { serverHarness } from "./helpers.js";

const { start, connect, login } = serverHarness();

async function envelope(client: Awaited<ReturnType<typeof login>>, body = ""): Promise<void> {
  expect(await client.command(`MAIL FROM:<alice@example.test>${body}`)).toEqual(["250 2.1.0 Sender OK"]);
  expect(await client.command("RCPT TO:<bob@example.test>")).toEqual(["250 2.1.5 Recipient OK"]);
}

describe("BDAT (RFC 3030 CHUNKING)", () => {
  it("advertises CHUNKING and BINARYMIME", async () => {
    const server = await start();
    const client = await login(server);
    const ehlo = (await client.command("EHLO again.test")).map((l) => l.slice(4));
    expect(ehlo).toContain("CHUNKING");
    expect(ehlo).toContain("BINARYMIME");
  });

  it("takes a message in chunks, verbatim: no dot-unstuffing, a <CRLF>.<CRLF> inside a chunk is data", async () => {
    const server = await start();
    const client = await login(server);
    await envelope(client);
    const first = "Subject: chunks\r\n\r\n..dot\r\n.\r\nMAIL FROM:<evil@attacker.test>\r\n";
    expect(await client.command(`BDAT ${first.length}\r\n${first.slice(0, -2)}`)).toEqual([`250 2.0.0 ${first.length} octets received`]);
    const last = "end\r\n";
    client.send(`BDAT ${last.length} LAST\r\n${last}`);
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued as /);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(server.messages).toHaveLength(1);
    expect(server.messages[0]!.data.toString()).toBe(first + last);
    expect(server.messages[0]!.envelope.transfer).toBe("BDAT");
  });

  it("pipelines MAIL, RCPT and BDAT LAST in one segment, and accepts BDAT 0 LAST as the end", async () => {
    const server = await start();
    const client = await login(server);
    client.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n");
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.reply()).toEqual(["250 2.0.0 3 octets received"]);
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(server.messages[0]!.data.toString()).toBe("abc");
  });

  it("BODY=BINARYMIME: binary bytes (NUL, bare CR and LF) arrive untouched; DATA is refused for it", async () => {
    const server = await start();
    const client = await login(server);
    await envelope(client, " BODY=BINARYMIME");
    expect(await client.command("DATA")).toEqual(["503 5.5.1 BODY=BINARYMIME requires BDAT"]);
    const binary = Buffer.from([0x00, 0x0d, 0x2e, 0x0a, 0xff, 0x0a, 0x2e, 0x0d, 0x0a]);
    client.send(Buffer.concat([Buffer.from(`BDAT ${binary.length} LAST\r\n`), binary]));
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(server.messages[0]!.data.equals(binary)).toBe(true);
    expect(server.messages[0]!.envelope.mailParams).toEqual({ BODY: "BINARYMIME" });
  });

  it("a chunk over the size limit is read to its end and refused with 552; the session goes on", async () => {
    const server = await start({ maxMessageBytes: 10 });
    const client = await login(server);
    await envelope(client);
    client.send(`BDAT 20 LAST\r\n${"x".repeat(20)}`);
    expect(await client.reply()).toEqual(["552 5.3.4 Message size exceeds fixed maximum message size"]);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    client.send("BDAT 4 LAST\r\nRSET");
    expect(await client.reply()).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(server.messages).toHaveLength(0);
  });

  it("refuses DATA after BDAT, and RCPT during BDAT", async () => {
    const server = await start();
    const client = await login(server);
    await envelope(client);
    client.send("BDAT 2\r\nab");
    expect(await client.reply()).toEqual(["250 2.0.0 2 octets received"]);
    expect(await client.command("DATA")).toEqual(["503 5.5.1 DATA not permitted after BDAT"]);
    expect(await client.command("RCPT TO:<c@example.test>")).toEqual(["503 5.5.1 RCPT not permitted during BDAT"]);
    expect(await client.command("RSET")).toEqual(["250 2.0.0 OK"]);
  });

  it("before authentication BDAT is refused with 530 and the connection closed (its bytes are never read as commands)", async () => {
    const server = await start();
    const client = await connect(server);
    client.send("BDAT 30 LAST\r\nMAIL FROM:<evil@attacker.test>\r\n");
    expect(await client.reply()).toEqual(["530 5.7.0 Authentication required"]);
    await client.closed();
  });

  it("an unparsable chunk size ends the session: the server cannot know where the next command starts", async () => {
    const server = await start();
    const client = await login(server);
    await envelope(client);
    client.send("BDAT -5\r\nabc");
    expect(await client.reply()).toEqual(["501 5.5.4 Syntax: BDAT chunk-size [LAST]"]);
    await client.closed();
  });
});

describe("onData: the message as a stream", () => {
  it("streams DATA and BDAT messages to the handler with their envelope", async () => {
    const seen: string[] = [];
    const server = await start({
      onData: async (stream, envelope) => {
        const data = Buffer.concat(await stream.toArray());
        seen.push(`${envelope.transfer} ${envelope.auth?.identity.authcid} ${data.toString()}`);
      },
    });
    const client = await login(server);
    await envelope(client);
    await client.command("DATA");
    expect((await client.command("one\r\n."))[0]).toMatch(/^250 /);
    await envelope(client);
    client.send("BDAT 3 LAST\r\ntwo");
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(seen).toEqual(["DATA alice one\r\n", "BDAT alice two"]);
  });

  it("a message over maxMessageBytes makes the stream error with code size-exceeded and the client gets 552", async () => {
    let failure: unknown;
    const server = await start({
      maxMessageBytes: 1000,
      onData: async (stream) => {
        try {
          for await (const _ of stream);
        } catch (error) {
          failure = error;
          throw error;
        }
      },
    });
    const client = await login(server);
    await envelope(client);
    await client.command("DATA");
    client.send(`${"y".repeat(3000)}\r\n.\r\n`);
    expect(await client.reply()).toEqual(["552 5.3.4 Message size exceeds fixed maximum message size"]);
    expect(failure).toBeInstanceOf(MessageTooLargeError);
    expect((failure as { code: string }).code).toBe("size-exceeded");
    expect(server.messages).toHaveLength(0);
  });

  it("backpressure: a slow reader gets every byte of a 4 MiB message in order", async () => {
    let received: Buffer | undefined;
    const server = await start({
      keepMessages: 0,
      onData: async (stream) => {
        const parts: Buffer[] = [];
        for await (const chunk of stream) {
          parts.push(chunk as Buffer);
          if (parts.length % 8 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        received = Buffer.concat(parts);
      },
    });
    const client = await login(server);
    await envelope(client);
    await client.command("DATA");
    const line = `${"0123456789".repeat(10)}\r\n`;
    const body = line.repeat(Math.ceil((4 * 1024 * 1024) / line.length));
    client.send(`${body}.\r\n`);
    expect((await client.reply(20_000))[0]).toMatch(/^250 /);
    expect(received?.length).toBe(body.length);
    expect(received?.toString() === body).toBe(true);
  });

  it("a handler that returns without reading does not stall the session: the rest is dropped and 250 follows", async () => {
    const server = await start({ onData: () => undefined });
    const client = await login(server);
    await envelope(client);
    await client.command("DATA");
    client.send(`${"z".repeat(100)}\r\n`.repeat(20_000) + ".\r\n");
    expect((await client.reply(10_000))[0]).toMatch(/^250 /);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
  });

  it("the stream errors with code aborted when the client disconnects mid-message", async () => {
    let failure: unknown;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const server = await start({
      onData: async (stream) => {
        try {
          for await (const _ of stream);
        } catch (error) {
          failure = error;
        }
        done();
      },
    });
    const client = await login(server);
    await envelope(client);
    await client.command("DATA");
    client.send("partial line\r\n");
    await new Promise((r) => setTimeout(r, 20));
    client.destroy();
    await finished;
    expect((failure as { code?: string }).code).toBe("aborted");
    expect(server.messages).toHaveLength(0);
  });
});

describe("the message store is bounded", () => {
  it("keeps at most keepBytes bytes (oldest dropped first) and never a message larger than keepBytes", async () => {
    const server = await start({ keepBytes: 25 });
    const client = await login(server);
    for (const text of ["a".repeat(8), "b".repeat(8), "c".repeat(8), "d".repeat(40)]) {
      await envelope(client);
      await client.command("DATA");
      expect((await client.command(`${text}\r\n.`))[0]).toMatch(/^250 /);
    }
    expect(server.messages.map((m) => m.data.toString().trim())).toEqual(["b".repeat(8), "c".repeat(8)]);
  });

  it("with the store off, nextMessage says so instead of waiting forever", async () => {
    const server = await start({ keepMessages: 0 });
    await expect(server.nextMessage(100)).rejects.toThrow(/store/);
  });

  it("default store bound is 32 MiB however many messages arrive", async () => {
    const server = await start({ maxMessageBytes: 12 * 1024 * 1024 });
    const client = await login(server);
    const body = `${"m".repeat(998)}\r\n`.repeat(10 * 1024);
    for (let i = 0; i < 4; i++) {
      await envelope(client);
      await client.command("DATA");
      client.send(`${body}.\r\n`);
      expect((await client.reply(20_000))[0]).toMatch(/^250 /);
    }
    const total = server.messages.reduce((n, m) => n + m.data.length, 0);
    expect(server.messages.length).toBe(3);
    expect(total).toBeLessThanOrEqual(32 * 1024 * 1024);
  });
});
