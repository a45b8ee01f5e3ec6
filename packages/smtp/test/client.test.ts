import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { type TranscriptEntry } from "@saslkit/transport";
import { startScriptedServer, testCertificates, type ScriptedServer } from "@saslkit/test-kit";
import { SmtpClient, SmtpError, printTranscript, sendMail, type SmtpClientOptions } from "@saslkit/smtp";
import { authFailureCode } from "../src/auth.js";
import { parseReply } from "../src/reply.js";
import { parseQueueId } from "../src/transaction.js";
import { all, cramFixture, echoFixture, emptyIrFixture, foobarFixture, loginFixture, plainFixture } from "./fixtures.js";
import { failure, opts } from "./options.js";

const transcript = (name: string) => readFileSync(new URL(`./transcripts/${name}`, import.meta.url), "utf8");


const HELLO = "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\n";

describe("recorded transcripts", () => {
  it("RFC 4954 §9 CRAM-MD5, after a 504 on FOOBAR (fallback)", async () => {
    const server = await startScriptedServer(transcript("rfc4954-cram-md5.txt"));
    const client = await SmtpClient.connect(opts(server, { mechanisms: [foobarFixture, cramFixture], auth: { username: "fred", password: "unused" } }));
    expect(client.authenticatedWith).toBe("CRAM-MD5");
    expect(client.negotiation?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([
      ["FOOBAR", "mechanism-rejected"],
      ["CRAM-MD5", undefined],
    ]);
    expect(client.negotiation?.refused).toContainEqual(expect.objectContaining({ mechanism: "DIGEST-MD5", reason: "not-installed" }));
    await client.quit();
    await server.done();
    await server.close();
  });

  it("RFC 4954 §9 PLAIN IR after STARTTLS: pre-TLS capabilities are discarded", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(transcript("rfc4954-plain-ir-starttls.txt"), { tls: certs });
    const client = await SmtpClient.connect(opts(server, { tlsOptions: { ca: certs.ca }, auth: { authzid: "test", username: "test", password: "1234" } }));
    expect(client.secure).toBe(true);
    expect(client.authenticatedWith).toBe("PLAIN");
    expect(client.negotiation?.offered).toEqual(["PLAIN"]); // LOGIN came before TLS: forgotten
    expect(client.capabilities.has("X-PRE-TLS")).toBe(false);
    expect(client.capabilities.startTls).toBe(false);
    await client.quit();
    await server.done();
    await server.close();
  });

  it.each(["login-draft-prompts.txt", "login-empty-prompts.txt"])("LOGIN ignores prompt content: %s", async (name) => {
    const server = await startScriptedServer(transcript(name));
    const client = await SmtpClient.connect(opts(server, { mechanisms: [loginFixture], auth: { username: "tim", password: "tanstaaftanstaaf" } }));
    expect(client.authenticatedWith).toBe("LOGIN");
    await client.quit();
    await server.done();
    await server.close();
  });
});

describe("greeting and EHLO", () => {
  it("falls back to HELO when EHLO is refused, and then offers no extensions", async () => {
    const server = await startScriptedServer(`${HELLO}S: 502 5.5.1 Command not implemented\nC: HELO client.example.org\nS: 250 mx.example.com\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server));
    expect(client.capabilities.helo).toBe(true);
    expect(client.capabilities.pipelining).toBe(false);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a 554 greeting is a refusal with the reply verbatim", async () => {
    const server = await startScriptedServer("S: 554-5.7.1 go away\nS: 554 5.7.1 really\n");
    const error = await failure(SmtpClient.connect(opts(server)));
    expect(error).toMatchObject({ phase: "greeting", code: "rejected" });
    expect(error.reply).toMatchObject({ code: 554, enhanced: "5.7.1", lines: ["554-5.7.1 go away", "554 5.7.1 really"] });
    await server.close();
  });

  it("a malformed reply is a typed error", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 251 SIZE 10\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server)));
    expect(error).toMatchObject({ phase: "ehlo", code: "malformed-reply", command: "EHLO client.example.org" });
    expect(error.message).toMatch(/changed the reply code/);
    await server.close();
  });

  it("line-too-long on a 100 KB line, without buffering it all", async () => {
    const server = await startScriptedServer(`S: 220 ${"x".repeat(100 * 1024)}\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server)));
    expect(error).toMatchObject({ phase: "greeting", code: "line-too-long" });
    await server.close();
  });

  it("a server dripping bytes cannot extend the greeting deadline", async () => {
    const server = await startScriptedServer("!drip 30\nS: 220 this greeting arrives one byte every 30 ms, far too slowly\n");
    const error = await failure(SmtpClient.connect(opts(server, { timeouts: { reply: 300 } })));
    expect(error).toMatchObject({ phase: "greeting", code: "timeout" });
    await server.close();
  });
});

describe("STARTTLS", () => {
  it('tls: "starttls" fails closed when STARTTLS is missing; nothing but EHLO was sent', async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server, { tls: "starttls", auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-required" });
    await server.close();
    expect(server.received).toEqual(["EHLO client.example.org"]);
  });

  it('tls: "starttls" fails closed when STARTTLS is refused', async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 TLS not available\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server, { tls: "starttls" })));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-required", command: "STARTTLS" });
    expect(error.reply?.code).toBe(454);
    await server.close();
  });

  it("the TLS default: a refused STARTTLS continues in clear to a loopback peer (PLAIN too, on loopback only)", async () => {
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx.example.com\nS: 250-AUTH PLAIN\nS: 250 STARTTLS\nC: STARTTLS\nS: 454 4.7.0 TLS not available\nC: AUTH PLAIN AHUAcA==\nS: 235 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } }));
    expect(client.secure).toBe(false);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("tls-injection when the server pipelines bytes after its go-ahead", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 STARTTLS\nC: STARTTLS\n!raw 220 go ahead\\r\\n250-AUTH PLAIN\\r\\n\n!stall\n`, { tls: certs });
    const error = await failure(SmtpClient.connect(opts(server, { tlsOptions: { ca: certs.ca } })));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-injection" });
    await server.close();
  });

  it("an untrusted certificate fails the upgrade (verification on by default)", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go ahead\n!starttls\n!stall\n`, { tls: certs });
    const error = await failure(SmtpClient.connect(opts(server)));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-failed" });
    await server.close();
  });

  it("implicit TLS (port 465 style)", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: AUTH PLAIN AHUAcA==\nS: 235 ok\nC: QUIT\nS: 221 bye\n`, { tls: certs, implicitTls: true });
    const client = await SmtpClient.connect(opts(server, { tls: "implicit", tlsOptions: { ca: certs.ca }, auth: { username: "u", password: "p" } }));
    expect(client.secure).toBe(true);
    await client.quit();
    await server.done();
    await server.close();
  });
});

describe("AUTH framing (RFC 4954)", () => {
  const authScript = (offer: string, rest: string) => `${HELLO}S: 250-mx.example.com\nS: 250 AUTH ${offer}\n${rest}`;

  it("never sends AUTH when the server advertised none", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 PIPELINING\nC: QUIT\nS: 221 bye\n`);
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "no-mechanism" });
    await server.done();
    expect(server.received).toEqual(["EHLO client.example.org", "QUIT"]);
    await server.close();
  });

  it("sends a zero-length initial response as =", async () => {
    const server = await startScriptedServer(authScript("X-EMPTY", "C: AUTH X-EMPTY =\nS: 235 ok\nC: QUIT\nS: 221 bye\n"));
    const client = await SmtpClient.connect(opts(server, { mechanisms: [emptyIrFixture], auth: {} }));
    expect(client.authenticatedWith).toBe("X-EMPTY");
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a long initial response goes after an empty 334, not on the command line (512-octet limit)", async () => {
    const password = "p".repeat(600);
    const b64 = Buffer.from(`\0u\0${password}`).toString("base64");
    const server = await startScriptedServer(authScript("PLAIN", `C: AUTH PLAIN\nS: 334 \nC: ${b64}\nS: 235 ok\nC: QUIT\nS: 221 bye\n`));
    const client = await SmtpClient.connect(opts(server, { auth: { username: "u", password } }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
    await server.done();
    await server.close();
  });

  it("an IR that exactly fits 512 octets with CRLF stays on the command line", async () => {
    // "AUTH PLAIN " (11) + base64 (496, a multiple of 4) + CRLF (2) = 509 ≤ 512; 500 would make 513.
    const raw = (496 / 4) * 3; // 372 bytes of payload
    const password = "q".repeat(raw - 3);
    const b64 = Buffer.from(`\0u\0${password}`).toString("base64");
    expect(`AUTH PLAIN ${b64}\r\n`.length).toBeLessThanOrEqual(512);
    const server = await startScriptedServer(authScript("PLAIN", `C: AUTH PLAIN ${b64}\nS: 235 ok\nC: QUIT\nS: 221 bye\n`));
    const client = await SmtpClient.connect(opts(server, { auth: { username: "u", password } }));
    await client.quit();
    await server.done();
    await server.close();
  });

  it("bad base64 in a 334 makes the client cancel with *", async () => {
    const server = await startScriptedServer(authScript("LOGIN", "C: AUTH LOGIN\nS: 334 not*base64\nC: *\nS: 501 5.7.0 Authentication cancelled\nC: QUIT\nS: 221 bye\n"));
    const error = await failure(SmtpClient.connect(opts(server, { mechanisms: [loginFixture], auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "invalid-challenge" });
    expect(error.saslError?.code).toBe("invalid-challenge");
    await server.done();
    await server.close();
  });

  it("a server that loops on 334 ends in too-many-rounds, cancelled with *", async () => {
    const loop = "S: 334 \nC: b2s=\n".repeat(3);
    const server = await startScriptedServer(authScript("X-ECHO", `C: AUTH X-ECHO\n${loop}S: 334 \nC: *\nS: 501 cancelled\nC: QUIT\nS: 221 bye\n`));
    const error = await failure(SmtpClient.connect(opts(server, { mechanisms: [echoFixture], auth: {}, maxRounds: 3 })));
    expect(error).toMatchObject({ phase: "authenticate", code: "too-many-rounds" });
    await server.done();
    await server.close();
  });

  it.each([
    [535, "5.7.8", "authentication-failed"],
    [534, "5.7.9", "mechanism-too-weak"],
    [504, "5.5.4", "mechanism-rejected"],
    [538, "5.7.11", "encryption-required"],
    [530, "5.7.0", "encryption-required"],
    [454, "4.7.0", "temporary-failure"],
    [550, "5.7.1", "protocol-error"],
    [250, "2.0.0", "protocol-error"], // only 235 is success
  ])("maps %i to %s, keeping the reply and the masked command", async (code, enhanced, expected) => {
    const server = await startScriptedServer(authScript("PLAIN", `C: AUTH PLAIN *\nS: ${code}-${enhanced} first line\nS: ${code} ${enhanced} second line\nC: QUIT\nS: 221 bye\n`));
    const error = await failure(SmtpClient.connect(opts(server, { mechanisms: [plainFixture], auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: expected, command: "AUTH PLAIN ****" });
    expect(error.reply).toMatchObject({ code, enhanced, lines: [`${code}-${enhanced} first line`, `${code} ${enhanced} second line`] });
    expect(error.cause).toBe(error.saslError);
    expect(error.saslError?.code).toBe(expected);
    await server.done();
    await server.close();
  });

  it("501 after * is aborted; 501 otherwise a protocol error", () => {
    expect(authFailureCode(501, true)).toBe("aborted");
    expect(authFailureCode(501, false)).toBe("protocol-error");
  });

  it("a 534 (mechanism too weak) never falls back to a weaker mechanism", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN LOGIN\nC: AUTH PLAIN *\nS: 534 5.7.9 Authentication mechanism is too weak\nC: QUIT\nS: 221 bye\n`);
    const error = await failure(SmtpClient.connect(opts(server, { mechanisms: [plainFixture, loginFixture], auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "mechanism-too-weak", mechanism: "PLAIN" });
    expect(error.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
    await server.done();
    await server.close();
  });

  it("a 535 does not fall back to the next mechanism (it would burn the failure budget)", async () => {
    const server = await startScriptedServer(authScript("PLAIN LOGIN", "C: AUTH PLAIN *\nS: 535 5.7.8 no\nC: QUIT\nS: 221 bye\n"));
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } })));
    expect(error.saslError?.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
    await server.done();
    await server.close();
  });

  it("the password and its base64 never appear in the transcript or the error, even when the server echoes them", async () => {
    const password = "s3cret-Pa55w0rd";
    const plainB64 = Buffer.from(`\0alice\0${password}`).toString("base64");
    const loginB64 = Buffer.from(password).toString("base64");
    const server = await startScriptedServer(
      authScript(
        "PLAIN LOGIN",
        `C: AUTH PLAIN ${plainB64}\nS: 504 5.5.4 no PLAIN for ${plainB64}\nC: AUTH LOGIN\nS: 334 VXNlcm5hbWU6\nC: YWxpY2U=\nS: 334 UGFzc3dvcmQ6\nC: ${loginB64}\nS: 535 5.7.8 bad password ${loginB64}\nC: QUIT\nS: 221 bye\n`,
      ),
    );
    const lines: TranscriptEntry[] = [];
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "alice", password }, transcript: (e) => lines.push(e) })));
    expect(error.code).toBe("authentication-failed");
    await server.done();
    const everything = [JSON.stringify(lines), error.message, String(error.saslError?.message), JSON.stringify(error.reply?.text ?? ""), error.command ?? ""].join("\n");
    for (const secret of [password, plainB64, loginB64]) expect(everything).not.toContain(secret);
    // Every client line during AUTH is masked; the server lines are kept (scrubbed).
    expect(lines.filter((l) => l.direction === "C").map((l) => l.text)).toEqual(["EHLO client.example.org", "AUTH PLAIN ****", "AUTH LOGIN", "****", "****", "QUIT"]);
    expect(lines).toContainEqual({ direction: "S", text: "535 5.7.8 bad password ****" });
    await server.close();
  });
});

describe("connection drops in each phase", () => {
  const base = `${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\n`;
  it.each([
    ["greeting", "!close\n", {}],
    ["ehlo", `${HELLO}!close\n`, {}],
    ["starttls", `${HELLO}S: 250-mx\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go\n!close\n`, {}],
    ["authenticate", `${base}C: AUTH PLAIN *\n!close\n`, { auth: { username: "u", password: "p" } }],
  ] as const)("during %s", async (phase, script, extra) => {
    const certs = await testCertificates();
    const server = await startScriptedServer(script, { tls: certs });
    const error = await failure(SmtpClient.connect(opts(server, { tlsOptions: { ca: certs.ca }, ...extra })));
    expect(error.phase).toBe(phase);
    expect(["closed", "tls-failed"]).toContain(error.code);
    await server.close();
  });

  it.each([
    ["mail", "C: MAIL FROM:<a@example.com>\n!close\n"],
    ["rcpt", "C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\n!close\n"],
    ["data", "C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\n!close\n"],
  ])("during %s", async (phase, script) => {
    const server = await startScriptedServer(`${HELLO}S: 250 mx.example.com\n${script}`);
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send("Subject: x\r\n\r\nbody\r\n", { from: "a@example.com", to: ["b@example.com"] }));
    // After the final dot a drop leaves the outcome unknown: the server may have the message.
    expect(error).toMatchObject({ phase, code: phase === "data" ? "outcome-unknown" : "closed" });
    expect(client.closed).toBe(true);
    await server.close();
  });

  it("connect-failed when nothing listens", async () => {
    const server = await startScriptedServer("!close\n");
    await server.close();
    const error = await failure(SmtpClient.connect(opts(server)));
    expect(error).toMatchObject({ phase: "connect", code: "connect-failed" });
  });
});

describe("sending", () => {
  const env = { from: "a@example.com", to: ["b@example.com"] };

  it("pipelines three concurrent sends: one round trip per message", async () => {
    const server = await startScriptedServer(transcript("pipelining-3-messages.txt"));
    const client = await SmtpClient.connect(opts(server));
    const results = await Promise.all([1, 2, 3].map((n) => client.send(`Subject: ${n}\r\n\r\n${["one", "two", "three"][n - 1]}\r\n`, env)));
    expect(results.map((r) => r.queueId)).toEqual(["AAA1", "AAA2", "AAA3"]);
    expect(results[0]).toMatchObject({ accepted: ["b@example.com"], rejected: [], reply: { code: 250, enhanced: "2.0.0" } });
    await client.quit();
    await server.done();
    // EHLO, then [MAIL RCPT DATA], [body . MAIL RCPT DATA] x2, [body .], QUIT.
    expect(server.roundTrips()).toBe(6);
    await server.close();
  });

  /** The same three transactions, scripted in lock-step (no PIPELINING: each command gets its reply first). */
  const lockStep = (pipeliningOffered: boolean) =>
    `${HELLO}S: 250-mx.example.com\n${pipeliningOffered ? "S: 250-PIPELINING\n" : ""}S: 250 8BITMIME\n` +
    ["one", "two", "three"]
      .map(
        (word, i) =>
          `C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\nC: Subject: ${i + 1}\nC: \nC: ${word}\nC: .\nS: 250 2.0.0 Ok: queued as AAA${i + 1}\n`,
      )
      .join("") +
    "C: QUIT\nS: 221 bye\n";

  it("without PIPELINING every command waits for its reply, even for concurrent sends", async () => {
    const server = await startScriptedServer(lockStep(false));
    const client = await SmtpClient.connect(opts(server));
    expect(client.capabilities.pipelining).toBe(false);
    const results = await Promise.all([1, 2, 3].map((n) => client.send(`Subject: ${n}\r\n\r\n${["one", "two", "three"][n - 1]}\r\n`, env)));
    expect(results.map((r) => r.queueId)).toEqual(["AAA1", "AAA2", "AAA3"]);
    await client.quit();
    await server.done();
    expect(server.roundTrips()).toBe(1 + 3 * 4 + 1);
    await server.close();
  });

  it("pipelining: false behaves like a server without it", async () => {
    const server = await startScriptedServer(lockStep(true));
    const client = await SmtpClient.connect(opts(server, { pipelining: false }));
    for (const n of [1, 2, 3]) await client.send(`Subject: ${n}\r\n\r\n${["one", "two", "three"][n - 1]}\r\n`, env);
    await client.quit();
    await server.done();
    expect(server.roundTrips()).toBe(14);
    await server.close();
  });

  it("handles rejections inside a pipeline: partial recipients, refused sender + RSET, then success", async () => {
    const server = await startScriptedServer(transcript("pipelining-rejections.txt"));
    const client = await SmtpClient.connect(opts(server));
    const [first, second, third] = await Promise.allSettled([
      client.send("Subject: 1\r\n\r\nx\r\n", { from: "a@example.com", to: ["nobody@example.com", "b@example.com"] }),
      client.send("Subject: 2\r\n\r\nx\r\n", { from: "spammer@example.com", to: ["b@example.com"] }),
      client.send("Subject: 3\r\n\r\nx\r\n", env),
    ]);
    expect(first.status).toBe("fulfilled");
    const r1 = (first as PromiseFulfilledResult<Awaited<ReturnType<SmtpClient["send"]>>>).value;
    expect(r1.accepted).toEqual(["b@example.com"]);
    expect(r1.rejected).toEqual([{ address: "nobody@example.com", reply: expect.objectContaining({ code: 550, enhanced: "5.1.1" }) }]);
    expect(r1.queueId).toBe("BBB1");
    expect(second.status).toBe("rejected");
    expect((second as PromiseRejectedResult).reason).toMatchObject({ phase: "mail", code: "rejected", command: "MAIL FROM:<spammer@example.com>", reply: { code: 553 } });
    expect(third).toMatchObject({ status: "fulfilled", value: { queueId: "BBB3" } });
    await client.quit();
    await server.done();
    await server.close();
  });

  it("all recipients refused: RSET and a no-recipients error listing them", async () => {
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx\nS: 250 PIPELINING\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<x@example.com>\nC: RCPT TO:<y@example.com>\nC: DATA\nS: 250 ok\nS: 550 5.1.1 no x\nS: 550 5.1.1 no y\nS: 554 5.5.1 Error: no valid recipients\nC: RSET\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send("Subject: x\r\n\r\nx\r\n", { from: "a@example.com", to: ["x@example.com", "y@example.com"] }));
    expect(error).toMatchObject({ phase: "rcpt", code: "no-recipients" });
    expect(error.rejected?.map((r) => r.address)).toEqual(["x@example.com", "y@example.com"]);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a server that says 354 with no valid recipient gets an empty message and RSET", async () => {
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx\nS: 250 PIPELINING\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<x@example.com>\nC: DATA\nS: 250 ok\nS: 550 no\nS: 354 go\nC: .\nS: 554 no recipients\nC: RSET\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send("Subject: x\r\n\r\nsecret body\r\n", { from: "a@example.com", to: ["x@example.com"] }));
    expect(error.code).toBe("no-recipients");
    await client.quit();
    await server.done();
    expect(server.received).not.toContain("secret body");
    await server.close();
  });

  it("dot-stuffs and normalises line endings on the wire", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250 mx\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server));
    const result = await client.send("Subject: t\n\nline1\n.dot\rbare\r\n..two\nlast", env);
    await client.quit();
    await server.done();
    expect(server.received.slice(4)).toEqual(["Subject: t", "", "line1", "..dot", "bare", "...two", "last", ".", "QUIT"]);
    expect(result.bytes).toBe(Buffer.byteLength("Subject: t\r\n\r\nline1\r\n..dot\r\nbare\r\n...two\r\nlast\r\n"));
    await server.close();
  });

  it("composes an object message with MailComposer: Bcc in the envelope, never in the headers", async () => {
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx\nS: 250 PIPELINING\nC: MAIL FROM:<a@example.com>\nC: RCPT TO:<b@example.com>\nC: RCPT TO:<c@example.com>\nC: RCPT TO:<hidden@example.com>\nC: DATA\nS: 250 ok\nS: 250 ok\nS: 250 ok\nS: 250 ok\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server));
    const result = await client.send({ from: "Alice <a@example.com>", to: "b@example.com", cc: ["c@example.com"], bcc: "hidden@example.com", subject: "Hello", text: "Hi there" });
    expect(result.accepted).toEqual(["b@example.com", "c@example.com", "hidden@example.com"]);
    await client.quit();
    await server.done();
    const body = server.received.slice(server.received.indexOf("DATA") + 1);
    expect(body).toContain("Subject: Hello");
    expect(body.some((l) => /^cc:/i.test(l))).toBe(true);
    expect(body.some((l) => /^bcc:/i.test(l) || l.includes("hidden@example.com"))).toBe(false);
    await server.close();
  });

  it("SIZE= when the size is known, and a too-large message is refused before MAIL", async () => {
    const message = "Subject: s\r\n\r\nbody\r\n";
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx\nS: 250 SIZE 30\nC: MAIL FROM:<a@example.com> SIZE=${message.length}\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server));
    await client.send(message, env);
    const error = await failure(client.send(`${message}${"x".repeat(100)}`, env));
    expect(error).toMatchObject({ phase: "mail", code: "message-too-large" });
    await client.quit();
    await server.done();
    await server.close();
  });

  it("SMTPUTF8: required and missing is a typed error; offered means SMTPUTF8 and BODY=8BITMIME", async () => {
    const utf8Env = { from: "a@example.com", to: ["jörg@example.com"] };
    const without = await startScriptedServer(`${HELLO}S: 250 mx\nC: QUIT\nS: 221 bye\n`);
    const c1 = await SmtpClient.connect(opts(without));
    const error = await failure(c1.send("Subject: x\r\n\r\nx\r\n", utf8Env));
    expect(error).toMatchObject({ phase: "mail", code: "smtputf8-required" });
    await c1.quit();
    await without.done();
    await without.close();

    const withUtf8 = await startScriptedServer(
      `${HELLO}S: 250-mx\nS: 250-8BITMIME\nS: 250 SMTPUTF8\nC: MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8\nS: 250 ok\nC: RCPT TO:<jörg@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const c2 = await SmtpClient.connect(opts(withUtf8));
    await c2.send("Subject: x\r\n\r\nx\r\n", utf8Env);
    await c2.quit();
    await withUtf8.done();
    await withUtf8.close();
  });

  it("BODY=8BITMIME for 8-bit content when offered", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx\nS: 250 8BITMIME\nC: MAIL FROM:<a@example.com> BODY=8BITMIME\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 ok\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server));
    await client.send("Subject: x\r\n\r\nGrüße\r\n", env);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("refuses addresses that would inject commands", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250 mx\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server));
    for (const bad of ["b@example.com>\r\nRCPT TO:<evil@example.com", "a b@example.com", "<b@example.com>"]) {
      expect(await failure(client.send("x", { from: "a@example.com", to: [bad] }))).toMatchObject({ code: "invalid-input", phase: "rcpt" });
    }
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a refused final reply fails that send only; the connection stays usable", async () => {
    const server = await startScriptedServer(
      `${HELLO}S: 250 mx\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 554 5.7.1 spam\nC: NOOP\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server));
    const error = await failure(client.send("Subject: x\r\n\r\nx\r\n", env));
    expect(error).toMatchObject({ phase: "data", code: "rejected", reply: { code: 554 } });
    expect((await client.noop()).code).toBe(250);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("sendMail: one message, then QUIT", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250 mx\nC: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 2.0.0 Ok: queued as Q1\nC: QUIT\nS: 221 bye\n`);
    const lines: string[] = [];
    const result = await sendMail(opts(server, { transcript: printTranscript((t) => lines.push(t)) }), "Subject: x\r\n\r\nx\r\n", env);
    expect(result.queueId).toBe("Q1");
    await server.done();
    expect(lines).toContain(">> MAIL FROM:<a@example.com>\n");
    expect(lines).toContain("<< 250 2.0.0 Ok: queued as Q1\n");
    await server.close();
  });

  it("printTranscript neutralises a server's terminal escape sequences", () => {
    const lines: string[] = [];
    printTranscript((t) => lines.push(t))({ direction: "S", text: "220 \u001b]0;owned\u0007 mx \u001b[2J\u009b31m ok\tend" });
    expect(lines).toEqual(["<< 220 \\x1b]0;owned\\x07 mx \\x1b[2J\\x9b31m ok\tend\n"]);
  });
});

describe("queue ids", () => {
  it.each([
    ["250 2.0.0 Ok: queued as 4F3V2L1xyz", "4F3V2L1xyz"],
    ["250 OK id=1rAbCd-000123-4E", "1rAbCd-000123-4E"],
    ["250 2.6.0 <x@y> [InternalId=123456, Hostname=EX01] Queued mail for delivery", "123456"],
    ["250 OK", undefined],
  ])("%s", (line, id) => {
    expect(parseQueueId(parseReply([line]))).toBe(id);
  });
});
