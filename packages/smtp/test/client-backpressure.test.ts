import { readFileSync } from "node:fs";
import net from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { SmtpClient } from "@saslkit/smtp";

const base = { ehloName: "client.example.org", mechanisms: [], timeouts: { reply: 10_000, data: 30_000 } };
const env = { from: "a@example.com", to: ["b@example.com"] };
const CHUNK = 1 << 20;

/**
 * The most the kernel can hold for one loopback connection: the sender's socket buffer plus the
 * receiver's, at their autotuning maxima. Bytes beyond that are held by the client.
 */
function kernelCapacity(): number {
  const max = (file: string) => {
    try {
      return Number(readFileSync(file, "utf8").trim().split(/\s+/)[2]);
    } catch {
      return 8 << 20;
    }
  };
  return max("/proc/sys/net/ipv4/tcp_wmem") + max("/proc/sys/net/ipv4/tcp_rmem");
}

/**
 * A minimal SMTP server that stops reading as soon as the message body starts (DATA's 354, or
 * the first BDAT) and reads on when `resume()` is called. Counts every byte it has read.
 */
async function slowServer(chunking: boolean) {
  let received = 0;
  const bdatSizes: number[] = [];
  let socket!: net.Socket;
  let bodyStarted = false;
  const server = net.createServer((s) => {
    socket = s;
    let pending = Buffer.alloc(0);
    let inData = false;
    let bdatLeft = 0;
    let bdatLast = false;
    let tail = Buffer.alloc(0);
    const startBody = () => {
      if (bodyStarted) return;
      bodyStarted = true;
      s.pause();
    };
    const command = (line: string) => {
      const bdat = /^BDAT (\d+)( LAST)?$/.exec(line);
      if (line.startsWith("EHLO")) s.write(`250-mx\r\n250-PIPELINING\r\n${chunking ? "250-CHUNKING\r\n" : ""}250 8BITMIME\r\n`);
      else if (line.startsWith("MAIL") || line.startsWith("RCPT")) s.write("250 ok\r\n");
      else if (line === "DATA") {
        s.write("354 go\r\n");
        inData = true;
        startBody();
      } else if (bdat) {
        bdatLeft = Number(bdat[1]);
        bdatSizes.push(bdatLeft);
        bdatLast = bdat[2] !== undefined;
        if (bdatLeft === 0) s.write(bdatLast ? "250 ok\r\n" : "250 chunk ok\r\n");
        startBody();
      } else if (line === "QUIT") s.end("221 bye\r\n");
      else s.write("500 what\r\n");
    };
    s.on("data", (chunk: Buffer) => {
      received += chunk.length;
      let buf = chunk;
      while (buf.length) {
        if (inData) {
          // The test body has no line of a lone ".": the end marker ends the last read.
          tail = Buffer.concat([tail, buf]).subarray(-5);
          if (tail.toString("latin1") === "\r\n.\r\n") {
            inData = false;
            s.write("250 ok\r\n");
          }
          break;
        }
        if (bdatLeft > 0) {
          const n = Math.min(bdatLeft, buf.length);
          bdatLeft -= n;
          buf = buf.subarray(n);
          if (bdatLeft === 0) s.write(bdatLast ? "250 ok\r\n" : "250 chunk ok\r\n");
          continue;
        }
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          pending = Buffer.concat([pending, buf]);
          break;
        }
        const line = Buffer.concat([pending, buf.subarray(0, nl)]).toString("latin1").replace(/\r$/, "");
        pending = Buffer.alloc(0);
        buf = buf.subarray(nl + 1);
        command(line);
      }
    });
    s.on("error", () => undefined);
    s.write("220 mx\r\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    bdatSizes,
    bodyStarted: () => bodyStarted,
    resume: () => socket.resume(),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

describe("a streamed body is read only as fast as the server takes it", () => {
  it.each([
    ["DATA", false],
    ["BDAT", true],
  ])("%s: a server that stops reading stops the source; the client holds at most the chunk it is writing", async (_name, chunking) => {
    const server = await slowServer(chunking);
    cleanup = server.close;
    const kernel = kernelCapacity();
    // Far more than the kernel can hold: a client that buffered the message would read it all.
    const total = kernel + 32 * CHUNK;
    const line = Buffer.alloc(64, 0x61);
    line.write("\r\n", 62, "latin1");
    const chunk = Buffer.alloc(CHUNK);
    for (let i = 0; i < CHUNK; i += 64) line.copy(chunk, i);
    let produced = 0;
    let worst = 0; // most bytes read from the source and not yet read by the server, at each read
    const source = new Readable({
      highWaterMark: CHUNK,
      read() {
        worst = Math.max(worst, produced - server.received());
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += CHUNK;
        this.push(Buffer.from(chunk)); // a fresh buffer per chunk, as a file stream gives
      },
    });
    const client = await SmtpClient.connect({ host: "127.0.0.1", port: server.port, ...base, ...(chunking ? {} : { chunking: false }) });
    const sending = client.send(source, env);
    // The server reads nothing now. Give the client time to fill the kernel's buffers; however
    // long this takes, a client that honours backpressure cannot read past the bound below.
    await new Promise((r) => setTimeout(r, 300));
    expect(server.bodyStarted()).toBe(true);
    const producedWhilePaused = produced;
    server.resume();
    const result = await sending;
    await client.quit();
    expect(result.bytes).toBe(total);
    expect(producedWhilePaused).toBeLessThan(total);
    // The source's own read-ahead (one chunk), the chunk on the client's socket, the one being
    // read: all else is in the kernel.
    expect(worst).toBeLessThanOrEqual(kernel + 3 * CHUNK);
    // The source pushes synchronously; its chunks are not joined on the way (that would be a copy).
    if (chunking) expect(Math.max(...server.bdatSizes)).toBe(CHUNK);
  });
});
