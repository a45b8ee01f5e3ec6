/**
 * A command write the server never reads ends at the reply deadline (IMAP and POP3): the server
 * logs the client in, then stops reading; a command larger than the socket and kernel buffers
 * waits for "drain", and that wait had no deadline, so `command()` never settled.
 */
import net from "node:net";
import { ImapClient, ImapError } from "@saslkit/imap";
import { Pop3Client, Pop3Error } from "@saslkit/pop3";
import { afterEach, describe, expect, it } from "vitest";
import { loopbackOptions } from "./support/adapter-fakes.js";

/** A server that answers each line with `answer(line)` until it returns `pause: true`, then reads nothing more. */
function stopsReading(greeting: string, answer: (line: string) => { reply: string; pause?: boolean }): Promise<net.Server> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.write(greeting);
    let buffer = "";
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString("latin1");
      let i: number;
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const { reply, pause } = answer(line);
        socket.write(reply);
        if (pause) {
          socket.off("data", onData);
          socket.pause();
          return;
        }
      }
    };
    socket.on("data", onData);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let server: net.Server | undefined;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const HUGE = 32 * 1024 * 1024; // well past the socket's highWaterMark and loopback's kernel buffers
const options = (port: number) => ({ ...loopbackOptions(port), timeouts: { connect: 3000, reply: 400 } });

describe("a command the server does not read ends at the reply deadline", () => {
  it("IMAP: command() rejects with timeout instead of waiting for drain forever", async () => {
    server = await stopsReading("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n", (line) => {
      const tag = line.split(" ")[0];
      if (/ AUTHENTICATE /i.test(line)) return { reply: `${tag} OK [CAPABILITY IMAP4rev1] in\r\n`, pause: true };
      return { reply: `${tag} BAD unexpected\r\n` };
    });
    const client = await ImapClient.connect(options((server.address() as net.AddressInfo).port));
    const error = await client.command(`NOOP ${"x".repeat(HUGE)}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ImapError);
    expect((error as ImapError).code).toBe("timeout");
    await client.close();
  });

  it("POP3: command() rejects with timeout instead of waiting for drain forever", async () => {
    server = await stopsReading("+OK ready\r\n", (line) => {
      if (/^CAPA$/i.test(line)) return { reply: "+OK\r\nSASL PLAIN\r\nUSER\r\n.\r\n" };
      if (/^AUTH PLAIN \S/i.test(line)) return { reply: "+OK in\r\n", pause: true };
      return { reply: "-ERR unexpected\r\n" };
    });
    const client = await Pop3Client.connect(options((server.address() as net.AddressInfo).port));
    const error = await client.command(`NOOP ${"x".repeat(HUGE)}`).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Pop3Error);
    expect((error as Pop3Error).code).toBe("timeout");
    await client.close();
  });
});
