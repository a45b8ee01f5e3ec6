/**
 * CHUNKING cases real Postfix cannot show: BINARYMIME (Postfix does not offer it), BDAT without
 * PIPELINING, a refused BDAT (the LAST one or one mid-message), a link dropped after the LAST
 * chunk, a source that fails mid-body, a slow final reply, and QUIT pipelined after an
 * in-memory message. A small binary-safe BDAT server written here records every message's
 * octets and MAIL parameters, and every command line.
 */
import net from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { fakeServerOptions } from "./support/fake-smtp.js";
import { SmtpClient, SmtpError, sendMail, type SmtpClientOptions } from "@saslkit/smtp";

interface Received {
  readonly mail: string;
  readonly body: Buffer;
}

class BdatServer {
  readonly received: Received[] = [];
  /** Client reads (round trips) per connection: a new read that holds a command counts one. */
  commandReads = 0;
  extensions = ["PIPELINING", "CHUNKING", "BINARYMIME", "8BITMIME"];
  /** Reply to the LAST chunk (default 250); "drop" closes the link instead. */
  lastReply: string | "drop" = "250 2.0.0 Ok: queued as Q1";
  /**
   * Reply to the n-th chunk (from 0) that is not LAST: 250 by default. Once one is refused the
   * transaction has failed: every later chunk, LAST included, gets a 554 of its own (so a test
   * can tell the first refusal from the rest) and nothing is delivered, until RSET.
   */
  chunkReply: (n: number) => string = () => "250 2.0.0 chunk ok";
  /** Milliseconds to hold a batch of replies that ends a message (a server that answers once it has taken it). */
  lastDelayMs = 0;
  /** Every command line received, in order (BDAT data excluded). */
  readonly commands: string[] = [];
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  port = 0;

  async start(): Promise<void> {
    this.#server = net.createServer((s) => this.#session(s));
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", r));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    // A failed test may leave its client connected: close it too, or the server never stops.
    await new Promise<void>((r) => {
      if (!this.#server) return r();
      this.#server.close(() => r());
      for (const socket of this.#sockets) socket.destroy();
    });
  }

  #session(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    let need = 0; // BDAT octets still to read
    let last = false;
    let mail = "";
    let chunks: Buffer[] = [];
    let chunkCount = 0;
    let failed = false; // a chunk was refused: the transaction failed
    let delay = 0; // for the batch being answered
    const reply = (out: string) => {
      if (!delay) socket.write(out);
      else setTimeout(() => socket.write(out), delay);
    };
    /** A chunk read whole: its reply, or undefined when the link was dropped. */
    const chunkDone = (): string | undefined => {
      if (failed) return "554 5.5.0 an earlier chunk was refused\r\n";
      if (!last) {
        const answer = this.chunkReply(chunkCount++);
        if (!answer.startsWith("2")) failed = true;
        return `${answer}\r\n`;
      }
      this.received.push({ mail, body: Buffer.concat(chunks) });
      delay = this.lastDelayMs;
      if (this.lastReply === "drop") {
        socket.destroy();
        return undefined;
      }
      return `${this.lastReply}\r\n`;
    };
    socket.write("220 bdat.test ESMTP\r\n");
    socket.on("data", (data) => {
      buf = Buffer.concat([buf, data]);
      let out = "";
      let sawCommand = false;
      delay = 0;
      for (;;) {
        if (need > 0) {
          const take = Math.min(need, buf.length);
          chunks.push(buf.subarray(0, take));
          buf = buf.subarray(take);
          need -= take;
          if (need > 0) break;
          const answer = chunkDone();
          if (answer === undefined) return;
          out += answer;
          continue;
        }
        const i = buf.indexOf("\r\n");
        if (i < 0) break;
        const line = buf.subarray(0, i).toString("latin1");
        buf = buf.subarray(i + 2);
        sawCommand = true;
        this.commands.push(line);
        const verb = line.split(" ")[0]!.toUpperCase();
        if (verb === "EHLO") out += ["250-bdat.test", ...this.extensions.map((x) => `250-${x}`), "250 AUTH PLAIN"].join("\r\n") + "\r\n";
        else if (verb === "AUTH") out += "235 2.7.0 ok\r\n";
        else if (verb === "MAIL") {
          mail = line;
          chunks = [];
          chunkCount = 0;
          failed = false;
          out += "250 2.1.0 ok\r\n";
        } else if (verb === "RCPT") out += "250 2.1.5 ok\r\n";
        else if (verb === "BDAT") {
          const m = /^BDAT (\d+)( LAST)?$/i.exec(line)!;
          need = Number(m[1]);
          last = m[2] !== undefined;
          if (need === 0) {
            // An empty chunk: complete at once.
            const answer = chunkDone();
            if (answer === undefined) return;
            out += answer;
          }
        } else if (verb === "DATA") out += "503 5.5.1 use BDAT in this test\r\n";
        else if (verb === "RSET" || verb === "NOOP") {
          if (verb === "RSET") failed = false;
          out += "250 ok\r\n";
        }
        else if (verb === "QUIT") {
          out += "221 bye\r\n";
          if (!delay) socket.end(out);
          else setTimeout(() => socket.end(out), delay);
          return;
        } else out += "502 no\r\n";
      }
      if (sawCommand) this.commandReads++;
      if (out) reply(out);
    });
  }
}

let server: BdatServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const options = (s: BdatServer, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => fakeServerOptions(s.port, extra);
const env = { from: "a@example.org", to: ["b@example.org"] };

describe("BDAT against a scripted server", () => {
  it("a body with NUL octets goes as BODY=BINARYMIME, verbatim (bare LF and dots untouched)", async () => {
    server = new BdatServer();
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const body = Buffer.concat([Buffer.from("Subject: bin\r\n\r\n"), Buffer.from([0, 1, 2, 0x0a, 0x2e, 0x0d, 0xff, 0])]);
    const result = await client.send(body, env);
    await client.quit();
    expect(result.bytes).toBe(body.length);
    expect(server.received[0]!.mail).toMatch(/ BODY=BINARYMIME$/);
    expect(server.received[0]!.body.equals(body)).toBe(true);
  });

  it("without BINARYMIME offered, the same body is sent as an ordinary message (line ends repaired)", async () => {
    server = new BdatServer();
    server.extensions = ["PIPELINING", "CHUNKING", "8BITMIME"];
    await server.start();
    const client = await SmtpClient.connect(options(server));
    await client.send(Buffer.from("Subject: x\n\nA\0B\n"), env);
    await client.quit();
    expect(server.received[0]!.mail).not.toContain("BINARYMIME");
    expect(server.received[0]!.body.toString("latin1")).toBe("Subject: x\r\n\r\nA\0B\r\n");
  });

  it("an in-memory message costs one round trip (MAIL, RCPT, BDAT LAST and the body in one write)", async () => {
    server = new BdatServer();
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const before = server.commandReads;
    await client.send("Subject: rt\r\n\r\n.x\r\n", env);
    const reads = server.commandReads - before;
    await client.quit();
    expect(reads).toBe(1);
    expect(server.received[0]!.body.toString()).toBe("Subject: rt\r\n\r\n.x\r\n"); // no dot-stuffing with BDAT
  });

  it("without PIPELINING: MAIL, RCPT, then each BDAT chunk waits for its reply", async () => {
    server = new BdatServer();
    server.extensions = ["CHUNKING"];
    await server.start();
    const client = await SmtpClient.connect(options(server));
    expect(client.pipelining).toBe("off");
    const big = Buffer.alloc(600 * 1024, "a");
    big.write("\r\n", big.length - 2);
    const result = await client.send(Readable.from([Buffer.from("Subject: big\r\n\r\n"), big]), env);
    await client.quit();
    expect(server.received[0]!.body.length).toBe(result.bytes);
    expect(server.received[0]!.body.subarray(16).equals(big)).toBe(true);
  });

  it("a refused LAST chunk is the message's error, and the connection stays usable", async () => {
    server = new BdatServer();
    server.lastReply = "552 5.3.4 message too big";
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const error = await client.send("Subject: no\r\n\r\nx\r\n", env).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).reply?.code).toBe(552);
    server.lastReply = "250 ok";
    await expect(client.send("Subject: yes\r\n\r\nx\r\n", env)).resolves.toMatchObject({ reply: { code: 250 } });
    await client.quit();
  });

  it("a link dropped after the LAST chunk is outcome-unknown (the server had the message)", async () => {
    server = new BdatServer();
    server.lastReply = "drop";
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const error = await client.send("Subject: maybe\r\n\r\nx\r\n", env).catch((e: unknown) => e);
    expect((error as SmtpError).code).toBe("outcome-unknown");
    expect(server.received).toHaveLength(1);
  });

  /** A body of `n` chunks of 200 KiB (several BDAT chunks of CHUNK_BYTES), each line "x...\r\n". */
  const streamed = (n: number) => {
    const part = Buffer.alloc(200 * 1024, "x");
    for (let i = 63; i < part.length; i += 64) part.write("\r\n", i - 1);
    return { parts: [Buffer.from("Subject: big\r\n\r\n"), ...Array.from({ length: n }, () => part)], bytes: 16 + n * part.length };
  };

  it("a streamed message: a link dropped after the LAST chunk is outcome-unknown, naming the LAST BDAT", async () => {
    server = new BdatServer();
    server.lastReply = "drop";
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const body = streamed(3);
    const error = (await client.send(Readable.from(body.parts), env).catch((e: unknown) => e)) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error).toMatchObject({ code: "outcome-unknown", phase: "data", command: "BDAT LAST", envelope: env });
    expect(error.message).toMatch(/after the message's last chunk .* may have accepted the message/);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.body.length).toBe(body.bytes);
    expect(client.closed).toBe(true);
  });

  for (const extensions of [["PIPELINING", "CHUNKING"], ["CHUNKING"]]) {
    it(`a chunk refused mid-message (${extensions.join(" ")}) is the message's error, nothing is delivered, RSET follows and the connection stays usable`, async () => {
      server = new BdatServer();
      server.extensions = extensions;
      server.chunkReply = (n) => (n === 0 ? "552 5.3.4 chunk too big" : "250 2.0.0 chunk ok");
      await server.start();
      const client = await SmtpClient.connect(options(server));
      const error = (await client.send(Readable.from(streamed(3).parts), env).catch((e: unknown) => e)) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error).toMatchObject({ code: "rejected", phase: "data", command: "BDAT", reply: { code: 552 }, envelope: env });
      expect(server.received).toHaveLength(0);
      const refusedAt = server.commands.findIndex((c) => c.startsWith("BDAT"));
      expect(server.commands.slice(refusedAt)).toContain("RSET");
      server.chunkReply = () => "250 2.0.0 chunk ok";
      await expect(client.send(Readable.from(streamed(2).parts), env)).resolves.toMatchObject({ reply: { code: 250 } });
      expect(server.received).toHaveLength(1);
      await client.quit();
    });
  }

  for (const extensions of [["PIPELINING", "CHUNKING"], ["CHUNKING"]]) {
    it(`once a chunk's refusal is in (${extensions.join(" ")}), no further BDAT goes out, LAST included, and the rest of the source is not read (RFC 3030 §2)`, async () => {
      server = new BdatServer();
      server.extensions = extensions;
      let refusalSent!: () => void;
      const refusal = new Promise<void>((resolve) => (refusalSent = resolve));
      server.chunkReply = (n) => {
        if (n === 0) setTimeout(refusalSent, 50); // time for the client to read it
        return n === 0 ? "552 5.3.4 chunk too big" : "250 2.0.0 chunk ok";
      };
      await server.start();
      const client = await SmtpClient.connect(options(server));
      const { parts } = streamed(2); // header + 2 x 200 KiB: one BDAT chunk of 409,616 octets
      let readAfterRefusal = 0;
      async function* source() {
        yield* parts;
        await refusal;
        for (let i = 0; i < 5; i++) {
          readAfterRefusal++;
          yield parts[1]!;
        }
      }
      const body = Readable.from(source());
      const error = (await client.send(body, env).catch((e: unknown) => e)) as SmtpError;
      expect(error).toMatchObject({ code: "rejected", phase: "data", reply: { code: 552 }, envelope: env });
      expect(server.commands.filter((c) => c.startsWith("BDAT"))).toEqual(["BDAT 409616"]);
      expect(server.commands.at(-1)).toBe("RSET");
      expect(body.destroyed).toBe(true);
      expect(readAfterRefusal).toBeLessThan(5); // at most the stream's read-ahead
      expect(server.received).toHaveLength(0);
      server.chunkReply = () => "250 2.0.0 chunk ok";
      await expect(client.send("Subject: next\r\n\r\nx\r\n", env)).resolves.toMatchObject({ reply: { code: 250 } });
      await client.quit();
    });
  }

  it("a stream that fails mid-body: the message's error is the reading error, no LAST chunk goes out, the connection is closed", async () => {
    server = new BdatServer();
    await server.start();
    const client = await SmtpClient.connect(options(server));
    const part = streamed(1).parts;
    async function* failing() {
      yield* part;
      yield* part.slice(1); // more than one chunk's worth went out first
      throw new Error("disk read failed");
    }
    const error = (await client.send(Readable.from(failing()), env).catch((e: unknown) => e)) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error).toMatchObject({ code: "invalid-input", phase: "data" });
    expect(error.message).toMatch(/disk read failed/);
    expect(client.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.commands.some((c) => c.startsWith("BDAT ") && c.endsWith(" LAST"))).toBe(false);
    expect(server.commands.some((c) => c.startsWith("BDAT "))).toBe(true);
    expect(server.received).toHaveLength(0);
  });

  it("sendMail: QUIT goes with an in-memory message's BDAT LAST, and the message's own reply is the result", async () => {
    server = new BdatServer();
    await server.start();
    const result = await sendMail(options(server), "Subject: q\r\n\r\nx\r\n", env);
    expect(result.reply.code).toBe(250);
    expect(result.queueId).toBe("Q1");
    expect(server.received).toHaveLength(1);
    expect(server.commands.slice(-4)).toEqual(["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "BDAT 17 LAST", "QUIT"]);
  });

  it("sendMail: a refused in-memory message is the error (not the 221 to QUIT), and QUIT is its last command", async () => {
    server = new BdatServer();
    server.lastReply = "554 5.7.1 no thanks";
    await server.start();
    const error = (await sendMail(options(server), "Subject: q\r\n\r\nx\r\n", env).catch((e: unknown) => e)) as SmtpError;
    expect(error).toMatchObject({ code: "rejected", reply: { code: 554 } });
    expect(server.commands.slice(-4)).toEqual(["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "BDAT 17 LAST", "QUIT"]);
  });

  it("an in-memory message whose replies come after the reply timeout but within the data timeout is sent (its group waits as a final reply may)", async () => {
    server = new BdatServer();
    server.lastDelayMs = 400; // MAIL's, RCPT's and BDAT LAST's replies, once the "message is taken"
    await server.start();
    const client = await SmtpClient.connect(options(server, { timeouts: { reply: 150, data: 5000 } }));
    const result = await client.send("Subject: slow\r\n\r\nx\r\n", env);
    expect(result.reply.code).toBe(250);
    await client.quit();
  });
});
