import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { startScriptedServer } from "@saslkit/test-kit";
import { SmtpClient, SmtpError, sendMail } from "@saslkit/smtp";

const HELLO = "S: 220 mx\nC: EHLO client.example.org\nS: 250 mx\n";
const base = { ehloName: "client.example.org", mechanisms: [], timeouts: { reply: 5000, data: 5000 } };
const env = { from: "a@example.com", to: ["b@example.com"] };
/** The SmtpError a send rejects with (a send that succeeds fails the test). */
const failed = (sending: Promise<unknown>): Promise<SmtpError> =>
  sending.then(
    () => {
      throw new Error("expected the send to fail");
    },
    (e: unknown) => e as SmtpError,
  );

describe("streamed messages", () => {
  it("streams a Readable body in chunks, stuffing dots across chunk boundaries", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base });
    const body = Readable.from(["Subject: s\r\n\r\nfirst\r", "\n", ".second\n", "third"].map((c) => Buffer.from(c)));
    await client.send(body, env);
    await client.quit();
    await server.done();
    expect(server.received.slice(server.received.indexOf("DATA") + 1)).toEqual(["Subject: s", "", "first", "..second", "third", ".", "QUIT"]);
    await server.close();
  });

  it("a stream without an envelope is an invalid-input error before anything is sent", async () => {
    const server = await startScriptedServer(`${HELLO}C: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base });
    await expect(client.send(Readable.from(["x"]))).rejects.toMatchObject({ code: "invalid-input" });
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a source that fails mid-DATA closes the connection: never a truncated message with a final dot", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base });
    const body = new Readable({
      read() {
        this.push("Subject: s\r\n\r\npartial\r\n");
        this.destroy(new Error("disk gone"));
      },
    });
    const error = (await client.send(body, env).catch((e: unknown) => e)) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error).toMatchObject({ phase: "data", code: "invalid-input" });
    expect(error.message).toContain("disk gone");
    expect(client.closed).toBe(true);
    await expect(server.done()).rejects.toThrow(/message data/); // the server never saw the dot
    expect(server.received).not.toContain(".");
    await server.close();
  });

  it("the abort signal ends a pending send with an aborted error", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\n!stall\n`);
    const controller = new AbortController();
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base, signal: controller.signal });
    const sending = client.send("Subject: x\r\n\r\nx\r\n", env);
    setTimeout(() => controller.abort(), 50);
    await expect(sending).rejects.toMatchObject({ phase: "mail", code: "aborted" });
    await server.close();
  });
  it("a source that stalls mid-DATA fails at the data deadline (no dot, connection closed), and so does the send queued behind it", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base, timeouts: { reply: 5000, data: 300 } });
    const stalled = new Readable({ read() {} });
    stalled.push("Subject: s\r\n\r\npartial\r\n");
    const started = Date.now();
    const first = failed(client.send(stalled, env));
    const second = failed(client.send("Subject: t\r\n\r\nx\r\n", env));
    const error = await first;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toMatchObject({ phase: "data", code: "invalid-input" });
    expect(error.message).toMatch(/data deadline/);
    expect(stalled.destroyed).toBe(true);
    expect(client.closed).toBe(true);
    expect((await second).code).not.toBe("outcome-unknown");
    expect(server.received).not.toContain(".");
    await server.close();
  });

  // The abort destroys the socket while no reply is awaited (the 354 is in, the body's source is
  // silent): the wait for the source must end with it, not at the data deadline (60 s here).
  it.each([
    ["DATA, client.send", false, "send"],
    ["BDAT, client.send", true, "send"],
    ["DATA, sendMail", false, "sendMail"],
  ] as const)("an abort while the source stalls mid-body (%s) ends the send at once with aborted: no end of data, connection closed", async (_name, chunking, how) => {
    const envelope = "C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\n";
    const server = await startScriptedServer(chunking ? `S: 220 mx\nC: EHLO client.example.org\nS: 250-mx\nS: 250 CHUNKING\n${envelope}!stall\n` : `${HELLO}${envelope}C: DATA\nS: 354 go\n!stall\n`);
    const abort = new AbortController();
    const options = { host: server.host, port: server.port, ...base, timeouts: { reply: 5000, data: 60_000 }, signal: abort.signal };
    const stalled = new Readable({ read() {} });
    stalled.push("Subject: s\r\n\r\npartial\r\n");
    const sending = failed(how === "send" ? SmtpClient.connect(options).then((client) => client.send(stalled, env)) : sendMail(options, stalled, env));
    let settledAt = 0;
    void sending.then(() => (settledAt = Date.now()));
    const waitFor = Date.now() + 5000;
    while (!server.received.includes(chunking ? "RCPT TO:<b@example.com>" : "DATA") && Date.now() < waitFor) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100)); // the body's first chunk is taken, the source is silent
    const abortedAt = Date.now();
    abort.abort();
    const error = await Promise.race([sending, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    expect(error, "the send did not settle within 2 s of the abort (timeouts.data is 60 s)").toBeDefined();
    expect(settledAt - abortedAt).toBeLessThan(2000);
    expect(error).toMatchObject({ phase: "data", code: "aborted" });
    expect(stalled.destroyed).toBe(true);
    expect(server.received).not.toContain(".");
    expect(server.received.some((l) => / LAST$/.test(l))).toBe(false);
    await server.close();
  });

  it("a server that hangs up while the source stalls mid-DATA ends the send at once with closed, not at the data deadline", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!sleep 100\n!close\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base, timeouts: { reply: 5000, data: 60_000 } });
    const stalled = new Readable({ read() {} });
    stalled.push("Subject: s\r\n\r\npartial\r\n");
    const sending = failed(client.send(stalled, env));
    const error = await Promise.race([sending, new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
    expect(error, "the send did not settle within 2 s of the hang-up (timeouts.data is 60 s)").toMatchObject({ phase: "data", code: "closed" });
    expect(stalled.destroyed).toBe(true);
    expect(client.closed).toBe(true);
    await server.close();
  });

  it("close() ends a send waiting on its source at once", async () => {
    const server = await startScriptedServer(`${HELLO}C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\n`);
    const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base });
    const stalled = new Readable({ read() {} });
    stalled.push("Subject: s\r\n\r\npartial\r\n");
    const sending = failed(client.send(stalled, env));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await client.close();
    expect(await sending).toMatchObject({ code: "client-closed" });
    expect(Date.now() - started).toBeLessThan(500);
    expect(stalled.destroyed).toBe(true);
    await server.close();
  });
});
