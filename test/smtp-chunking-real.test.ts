/**
 * CHUNKING (RFC 3030) against the real servers: Postfix and Dovecot submission both offer it, so
 * the client sends with BDAT (no dot-stuffing, no 354 step) unless `chunking: false`. Every
 * message is checked byte for byte in the Maildir (test/support/smtp-real.ts).
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { SmtpClient, SmtpError } from "@saslkit/smtp";
import { Transcript, assertDeliveredExactly, clientOptions, marker, rawMessage, realServers, rejection, waitForDelivered, type ServerEnv } from "./support/smtp-real.js";

const env = realServers();

const targets = [
  { name: "Postfix", port: (e: ServerEnv) => e.smtp.port },
  { name: "Dovecot submission", port: (e: ServerEnv) => e.submission.port },
];

for (const target of targets) {
  describe.skipIf(!env)(`BDAT against ${target.name}`, () => {
    const e = () => env!;
    const alice = () => e().users["alice"]!;
    const connect = (t: Transcript, extra = {}) =>
      SmtpClient.connect(
        clientOptions(e(), { port: target.port(e()), tls: "starttls", auth: { username: alice().user, password: alice().password }, policy: { force: "PLAIN" }, transcript: t, extra }),
      );
    const envelope = () => ({ from: `sender@${e().domain}`, to: [alice().address] });

    it("an in-memory message goes as one BDAT ... LAST with its MAIL and RCPT, no DATA, delivered byte for byte (dot lines unstuffed)", async () => {
      const t = new Transcript();
      const client = await connect(t);
      const id = marker("bdat-inline");
      const message = rawMessage(e(), id, [alice().address], `.leading dot\r\n.\r\n..two\r\nend ${id}\r\n`);
      try {
        expect(client.capabilities.chunking).toBe(true);
        const result = await client.send(message, envelope());
        expect(result.reply.code).toBe(250);
        expect(result.bytes).toBe(Buffer.byteLength(message));
      } finally {
        await client.quit();
      }
      const lines = t.client();
      expect(lines).not.toContain("DATA");
      const mail = lines.findIndex((l) => l.startsWith("MAIL FROM"));
      expect(lines.slice(mail + 1, mail + 3)).toEqual([`RCPT TO:<${alice().address}>`, `BDAT ${Buffer.byteLength(message)} LAST`]);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), message);
    });

    it("bare LF line ends are repaired to CRLF as with DATA (the stored message is the same)", async () => {
      const client = await connect(new Transcript());
      const id = marker("bdat-lf");
      const sent = rawMessage(e(), id, [alice().address], "line one\nline two\n").replace(/\r\n/g, "\n");
      try {
        await client.send(sent, envelope());
      } finally {
        await client.quit();
      }
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), sent.replace(/\n/g, "\r\n"));
    });

    it("a streamed message of 700 KiB goes as several BDAT chunks ending with LAST, delivered byte for byte", async () => {
      const t = new Transcript();
      const client = await connect(t);
      const id = marker("bdat-stream");
      const line = (i: number) => (i % 50 === 0 ? "." : "x") + `${String(i).padStart(6, "0")} ${"abcdefghij".repeat(6)}\r\n`;
      let body = "";
      for (let i = 0; body.length < 700 * 1024; i++) body += line(i);
      const message = Buffer.from(rawMessage(e(), id, [alice().address], body));
      // Chunks of 10,000 bytes: cut inside lines and inside CRLFs.
      const chunks: Buffer[] = [];
      for (let i = 0; i < message.length; i += 10_000) chunks.push(message.subarray(i, i + 10_000));
      try {
        const result = await client.send(Readable.from(chunks), envelope());
        expect(result.bytes).toBe(message.length);
      } finally {
        await client.quit();
      }
      const bdats = t.client().filter((l) => l.startsWith("BDAT "));
      expect(bdats.length).toBeGreaterThan(1);
      expect(bdats.at(-1)).toMatch(/ LAST$/);
      expect(bdats.slice(0, -1).every((l) => !l.endsWith("LAST"))).toBe(true);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e(), 30_000), message);
    });

    it("several messages over one connection with sendMany, each delivered once", async () => {
      const client = await connect(new Transcript());
      const ids = [0, 1, 2, 3].map((i) => marker(`bdat-many${i}`));
      const messages = ids.map((id) => rawMessage(e(), id, [alice().address], `.dot ${id}\r\n`));
      const outcomes = [];
      try {
        for await (const o of client.sendMany(messages.map((message) => ({ message, envelope: envelope() })))) outcomes.push(o);
      } finally {
        await client.quit();
      }
      expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true]);
      for (const [i, id] of ids.entries()) assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), messages[i]!);
    });

    it("every recipient refused: no-recipients, and the connection stays usable (RSET after the refused BDAT)", async () => {
      const t = new Transcript();
      const client = await connect(t);
      const id = marker("bdat-after-refusal");
      try {
        const error = await rejection(client.send(rawMessage(e(), "x", ["n"], "x\r\n"), { from: `sender@${e().domain}`, to: [`nobody-${id.slice(-8)}@${e().domain}`] }));
        expect(error).toBeInstanceOf(SmtpError);
        expect((error as SmtpError).code).toBe("no-recipients");
        const message = rawMessage(e(), id, [alice().address]);
        await client.send(message, envelope());
        assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), message);
      } finally {
        await client.quit();
      }
    });

    it("chunking: false sends with DATA", async () => {
      const t = new Transcript();
      const client = await connect(t, { chunking: false });
      const id = marker("bdat-off");
      const message = rawMessage(e(), id, [alice().address], ".dot\r\n");
      try {
        await client.send(message, envelope());
      } finally {
        await client.quit();
      }
      expect(t.client()).toContain("DATA");
      expect(t.client().some((l) => l.startsWith("BDAT"))).toBe(false);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), message);
    });
  });
}
