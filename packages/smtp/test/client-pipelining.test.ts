/**
 * Pipelining modes ("full", "transaction", "off"), the Dovecot submission quirk, QUIT pipelined
 * by sendAndQuit/sendMail, the outcome-unknown error after the final dot, and the channel getter.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type TranscriptEntry } from "@saslkit/transport";
import { startScriptedServer, testCertificates, type ScriptedServer } from "@saslkit/test-kit";
import { SmtpClient, SmtpError, sendMail, type SmtpClientOptions } from "@saslkit/smtp";
import { all } from "./fixtures.js";
import { failure, opts } from "./options.js";

const THREE = readFileSync(new URL("./transcripts/pipelining-3-messages.txt", import.meta.url), "utf8");
const DOVECOT_GREETING = "S: 220 mx.example.com Dovecot (Debian) ready.";
const env = { from: "a@example.com", to: ["b@example.com"] };
const body = (n: number) => `Subject: ${n}\r\n\r\n${["one", "two", "three"][n - 1]}\r\n`;


/** Index of each transcript line matching `re`. */
const indexes = (lines: readonly string[], re: RegExp) => lines.flatMap((l, i) => (re.test(l) ? [i] : []));

async function sendThree(script: string, extra: Partial<SmtpClientOptions> = {}) {
  const entries: TranscriptEntry[] = [];
  const server = await startScriptedServer(script);
  const client = await SmtpClient.connect(opts(server, { transcript: (e) => entries.push(e), ...extra }));
  const mode = client.pipelining;
  const quirks = client.quirks;
  const results = await Promise.all([1, 2, 3].map((n) => client.send(body(n), env)));
  await client.quit();
  await server.done();
  const roundTrips = server.roundTrips();
  await server.close();
  return { mode, quirks, results, roundTrips, lines: entries.map((e) => `${e.direction}: ${e.text}`) };
}

describe("pipelining modes", () => {
  it('default "full": the next MAIL goes out before the previous final reply (one round trip per message)', async () => {
    const run = await sendThree(THREE);
    expect(run.mode).toBe("full");
    expect(run.quirks).toEqual([]);
    expect(run.results.map((r) => r.queueId)).toEqual(["AAA1", "AAA2", "AAA3"]);
    const mails = indexes(run.lines, /^C: MAIL FROM/);
    const finals = indexes(run.lines, /^S: 250 2\.0\.0 Ok: queued/);
    expect(mails[1]!).toBeLessThan(finals[0]!);
    expect(run.roundTrips).toBe(6);
  });

  it('Dovecot in the greeting makes the default "transaction": MAIL/RCPT/DATA grouped, the next message waits for the final reply', async () => {
    const run = await sendThree(THREE.replace("S: 220 mx.example.com ESMTP", DOVECOT_GREETING));
    expect(run.mode).toBe("transaction");
    expect(run.quirks).toEqual(["dovecot-submission"]);
    expect(run.results.map((r) => r.queueId)).toEqual(["AAA1", "AAA2", "AAA3"]);
    const mails = indexes(run.lines, /^C: MAIL FROM/);
    const finals = indexes(run.lines, /^S: 250 2\.0\.0 Ok: queued/);
    expect(mails).toHaveLength(3);
    for (const i of [0, 1]) expect(finals[i]!).toBeLessThan(mails[i + 1]!);
    // Still grouped: RCPT and DATA follow MAIL without waiting for its reply.
    expect(run.lines.slice(mails[0]! + 1, mails[0]! + 3)).toEqual(["C: RCPT TO:<b@example.com>", "C: DATA"]);
    // EHLO, then per message [MAIL RCPT DATA] and [body .], then QUIT.
    expect(run.roundTrips).toBe(1 + 3 * 2 + 1);
  });

  it('an explicit pipelining: "full" wins over the Dovecot quirk', async () => {
    const run = await sendThree(THREE.replace("S: 220 mx.example.com ESMTP", DOVECOT_GREETING), { pipelining: "full" });
    expect(run.mode).toBe("full");
    expect(run.quirks).toEqual(["dovecot-submission"]);
    expect(run.roundTrips).toBe(6);
  });

  it('pipelining: "transaction" on any server, and "off" (or false) is lock-step', async () => {
    const transaction = await sendThree(THREE, { pipelining: "transaction" });
    expect(transaction.mode).toBe("transaction");
    expect(transaction.roundTrips).toBe(8);
    const lockStep =
      "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250-mx.example.com\nS: 250 PIPELINING\n" +
      [1, 2, 3]
        .map((n) => `C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 2.0.0 Ok: queued as L${n}\n`)
        .join("") +
      "C: QUIT\nS: 221 bye\n";
    for (const off of ["off", false] as const) {
      const run = await sendThree(lockStep, { pipelining: off });
      expect(run.mode).toBe("off");
      expect(run.results.map((r) => r.queueId)).toEqual(["L1", "L2", "L3"]);
      expect(run.roundTrips).toBe(1 + 3 * 4 + 1);
    }
  });
});

describe("sendAndQuit / sendMail", () => {
  const oneMessage = (quit: string) =>
    "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250-mx.example.com\nS: 250 PIPELINING\n" +
    "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: DATA\nS: 250 ok\nS: 250 ok\nS: 354 go\n!data\n" +
    quit;

  it("QUIT leaves with the final dot: 3 round trips for EHLO, the envelope and body+QUIT", async () => {
    const server = await startScriptedServer(oneMessage("C: QUIT\nS: 250 2.0.0 Ok: queued as Q1\nS: 221 bye\n"));
    const entries: TranscriptEntry[] = [];
    const result = await sendMail(opts(server, { transcript: (e) => entries.push(e) }), body(1), env);
    expect(result.queueId).toBe("Q1");
    await server.done();
    expect(server.roundTrips()).toBe(3);
    const lines = entries.map((e) => `${e.direction}: ${e.text}`);
    expect(lines.indexOf("C: QUIT")).toBeLessThan(lines.findIndex((l) => l.startsWith("S: 250 2.0.0")));
    await server.close();
  });

  it("a refused message still fails, and the connection is closed", async () => {
    const server = await startScriptedServer(oneMessage("C: QUIT\nS: 554 5.7.1 no thanks\nS: 221 bye\n"));
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.sendAndQuit(body(1), env));
    expect(error).toMatchObject({ phase: "data", code: "rejected", reply: { code: 554 } });
    expect(error.envelope).toEqual(env);
    expect(client.closed).toBe(true);
    await expect(client.send(body(2), env)).rejects.toMatchObject({ code: "client-closed" });
    await server.close();
  });

  it("without PIPELINING the QUIT waits for the final reply", async () => {
    const script =
      "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250 mx.example.com\n" +
      "C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 2.0.0 Ok: queued as Q2\nC: QUIT\nS: 221 bye\n";
    const server = await startScriptedServer(script);
    const result = await sendMail(opts(server), body(1), env);
    expect(result.queueId).toBe("Q2");
    await server.done();
    expect(server.roundTrips()).toBe(6);
    await server.close();
  });
});

describe("outcome unknown after the final dot (RFC 1047)", () => {
  const upToDot = "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250-mx.example.com\nS: 250 PIPELINING\n" + "C: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: DATA\nS: 250 ok\nS: 250 ok\nS: 354 go\n!data\n";

  it("a drop after the dot is outcome-unknown, names the envelope and says the server may have the message", async () => {
    const server = await startScriptedServer(`${upToDot}!close\n`);
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send(body(1), env));
    expect(error).toMatchObject({ phase: "data", code: "outcome-unknown", command: ".", envelope: env });
    expect(error.message).toMatch(/may have accepted the message from <a@example\.com> to <b@example\.com>/);
    expect((error.cause as SmtpError).code).toBe("closed");
    expect(client.closed).toBe(true);
    await server.close();
  });

  it("a server silent after the dot until the data deadline is outcome-unknown too", async () => {
    const server = await startScriptedServer(`${upToDot}!stall\n`);
    const client = await SmtpClient.connect(opts(server, { timeouts: { reply: 2000, data: 150 } }));
    const error = await failure(client.send(body(1), { from: "a@example.com", to: ["b@example.com"] }));
    expect(error).toMatchObject({ phase: "data", code: "outcome-unknown" });
    expect((error.cause as SmtpError).code).toBe("timeout");
    await client.close();
    await server.close();
  });

  it("close() or an abort after the dot leaves the outcome unknown too (never client-closed or aborted, which say it was not sent)", async () => {
    for (const how of ["close", "abort"] as const) {
      const server = await startScriptedServer(`${upToDot}!stall\n`);
      const abort = new AbortController();
      const client = await SmtpClient.connect(opts(server, { signal: abort.signal }));
      const sending = failure(client.send(body(1), env));
      await new Promise((r) => setTimeout(r, 100)); // the dot is out, the reply is not
      expect(server.received.at(-1)).toBe(".");
      if (how === "close") await client.close();
      else abort.abort();
      const error = await sending;
      expect({ how, code: error.code, phase: error.phase, envelope: error.envelope }).toEqual({ how, code: "outcome-unknown", phase: "data", envelope: env });
      expect((error.cause as SmtpError).code).toBe(how === "close" ? "client-closed" : "aborted");
      // A send after it is refused: nothing written, and said so.
      expect((await failure(client.send(body(2), env))).code).toBe(how === "close" ? "client-closed" : "aborted");
      await server.close();
    }
  });

  it("a drop before the dot was sent is a plain closed error (nothing can have been accepted)", async () => {
    const script = "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250-mx.example.com\nS: 250 PIPELINING\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: DATA\nS: 250 ok\nS: 250 ok\n!close\n";
    const server = await startScriptedServer(script);
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send(body(1), env));
    expect(error).toMatchObject({ phase: "data", code: "closed" });
    await server.close();
  });
});

describe("channel", () => {
  it("cleartext to loopback: not secure, loopback, no channel binding", async () => {
    const server = await startScriptedServer("S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250 mx.example.com\nC: QUIT\nS: 221 bye\n");
    const client = await SmtpClient.connect(opts(server, { tls: "none" }));
    expect(client.channel).toMatchObject({ secure: false, loopback: true, host: server.host, port: server.port });
    expect(client.channel.channelBinding).toBeUndefined();
    await client.quit();
    await server.close();
  });

  it("after STARTTLS: secure, with the binding types this TLS connection can produce", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(
      "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\nS: 250-mx.example.com\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go\n!starttls\nC: EHLO client.example.org\nS: 250 mx.example.com\nC: QUIT\nS: 221 bye\n",
      { tls: certs },
    );
    const client = await SmtpClient.connect(opts(server, { tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }));
    const channel = client.channel;
    expect(channel.secure).toBe(true);
    expect(channel.channelBinding?.types).toContain("tls-server-end-point");
    for (const type of channel.channelBinding!.types) expect(channel.channelBinding!.data(type)?.length).toBeGreaterThan(0);
    await client.quit();
    await server.close();
  });
});
