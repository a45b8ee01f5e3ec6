/**
 * CHUNKING between saslkit's own client and server (@saslkit/smtp-server): byte-exact BDAT in
 * memory and streamed, and the same message with `chunking: false` (DATA). Until the embedded
 * server offers CHUNKING the BDAT cases skip (and say so); the DATA case always runs.
 */
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { plain } from "@saslkit/mech-plain";
import { SmtpServer, type SmtpServerHandle } from "@saslkit/smtp-server";
import { SmtpClient, type SmtpClientOptions } from "@saslkit/smtp";

let server: SmtpServerHandle | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<SmtpServerHandle> {
  server = await SmtpServer.start({
    mechanisms: [plain],
    callbacks: { verifyPassword: (u: string, p: string) => u === "alice" && p === "chunk-Secret-1" },
    requireAuth: true,
  });
  return server;
}

const options = (s: SmtpServerHandle, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: s.host,
  port: s.port,
  tls: "none",
  ehloName: "client.example.org",
  auth: { username: "alice", password: "chunk-Secret-1" },
  mechanisms: [plain],
  ...extra,
});
const env = { from: "alice@example.org", to: ["bob@example.org"] };
const message = "Subject: chunks\r\n\r\n.leading dot\r\n.\r\n..two\r\nend\r\n";

describe("CHUNKING with the embedded server", () => {
  it("in memory: BDAT when offered, delivered byte for byte (no stuffing on the wire, none to undo)", async (ctx) => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    if (!client.capabilities.chunking) {
      await client.quit();
      ctx.skip(); // the embedded server does not offer CHUNKING yet
    }
    const result = await client.send(message, env);
    await client.quit();
    expect(result.bytes).toBe(Buffer.byteLength(message));
    const got = s.messages.at(-1)!;
    expect(got.data.toString("utf8")).toBe(message);
    expect((got.envelope as { transfer?: string }).transfer).toBe("BDAT");
  });

  it("streamed 600 KiB in uneven chunks: several BDAT chunks, delivered byte for byte", async (ctx) => {
    const s = await start();
    const client = await SmtpClient.connect(options(s));
    if (!client.capabilities.chunking) {
      await client.quit();
      ctx.skip();
    }
    let body = "Subject: big\r\n\r\n";
    for (let i = 0; body.length < 600 * 1024; i++) body += `${i % 40 === 0 ? "." : "x"}${String(i).padStart(6, "0")} ${"0123456789".repeat(5)}\r\n`;
    const bytes = Buffer.from(body);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7777) chunks.push(bytes.subarray(i, i + 7777));
    const result = await client.send(Readable.from(chunks), env);
    await client.quit();
    expect(result.bytes).toBe(bytes.length);
    expect(s.messages.at(-1)!.data.equals(bytes)).toBe(true);
  });

  it("chunking: false sends the same message with DATA, byte for byte", async () => {
    const s = await start();
    const client = await SmtpClient.connect(options(s, { chunking: false }));
    await client.send(message, env);
    await client.quit();
    expect(s.messages.at(-1)!.data.toString("utf8")).toBe(message);
  });
});
