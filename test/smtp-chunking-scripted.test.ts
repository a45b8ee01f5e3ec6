/**
 * CHUNKING cases real Postfix cannot show: BINARYMIME (Postfix does not offer it), BDAT without
 * PIPELINING, a refused BDAT, and a link dropped after the LAST chunk. A small binary-safe BDAT
 * server written here records every message's octets and MAIL parameters.
 */
import net from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { plain } from "@saslkit/mech-plain";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";

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
  #server: net.Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.#server = net.createServer((s) => this.#session(s));
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", r));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.#server?.close(() => r()) ?? r());
  }

  #session(socket: net.Socket): void {
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    let need = 0; // BDAT octets still to read
    let last = false;
    let mail = "";
    let chunks: Buffer[] = [];
    socket.write("220 bdat.test ESMTP\r\n");
    socket.on("data", (data) => {
      buf = Buffer.concat([buf, data]);
      let out = "";
      let sawCommand = false;
      for (;;) {
        if (need > 0) {
          const take = Math.min(need, buf.length);
          chunks.push(buf.subarray(0, take));
          buf = buf.subarray(take);
          need -= take;
          if (need > 0) break;
          if (!last) {
            out += "250 2.0.0 chunk ok\r\n";
            continue;
          }
          this.received.push({ mail, body: Buffer.concat(chunks) });
          if (this.lastReply === "drop") {
            socket.destroy();
            return;
          }
          out += `${this.lastReply}\r\n`;
          continue;
        }
        const i = buf.indexOf("\r\n");
        if (i < 0) break;
        const line = buf.subarray(0, i).toString("latin1");
        buf = buf.subarray(i + 2);
        sawCommand = true;
        const verb = line.split(" ")[0]!.toUpperCase();
        if (verb === "EHLO") out += ["250-bdat.test", ...this.extensions.map((x) => `250-${x}`), "250 AUTH PLAIN"].join("\r\n") + "\r\n";
        else if (verb === "AUTH") out += "235 2.7.0 ok\r\n";
        else if (verb === "MAIL") {
          mail = line;
          chunks = [];
          out += "250 2.1.0 ok\r\n";
        } else if (verb === "RCPT") out += "250 2.1.5 ok\r\n";
        else if (verb === "BDAT") {
          const m = /^BDAT (\d+)( LAST)?$/i.exec(line)!;
          need = Number(m[1]);
          last = m[2] !== undefined;
          if (need === 0) {
            // An empty chunk: complete at once.
            need = 0;
            if (last) {
              this.received.push({ mail, body: Buffer.concat(chunks) });
              out += this.lastReply === "drop" ? "" : `${this.lastReply}\r\n`;
              if (this.lastReply === "drop") {
                socket.destroy();
                return;
              }
            } else out += "250 2.0.0 chunk ok\r\n";
          }
        } else if (verb === "DATA") out += "503 5.5.1 use BDAT in this test\r\n";
        else if (verb === "RSET" || verb === "NOOP") out += "250 ok\r\n";
        else if (verb === "QUIT") {
          socket.end(`${out}221 bye\r\n`);
          return;
        } else out += "502 no\r\n";
      }
      if (sawCommand) this.commandReads++;
      if (out) socket.write(out);
    });
  }
}

let server: BdatServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const options = (s: BdatServer, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: "127.0.0.1",
  port: s.port,
  tls: "none",
  ehloName: "client.example.org",
  auth: { username: "u", password: "p" },
  mechanisms: [plain],
  ...extra,
});
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
});
