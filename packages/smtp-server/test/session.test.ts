import { afterEach, describe, expect, it } from "vitest";
import { testCertificates } from "@saslkit/test-kit";
import { SmtpServer, type ServerTranscriptEntry, type SmtpServerOptions } from "../src/index.js";
import { RawClient, b64, callbacks, clientOnly, fakePlain, recorded, recorder, unb64, users } from "./helpers.js";

const running: SmtpServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(options: Partial<SmtpServerOptions> = {}): Promise<SmtpServer> {
  const server = await SmtpServer.start({ mechanisms: [fakePlain, recorder, clientOnly], callbacks, commandTimeoutMs: 5000, ...options });
  running.push(server);
  return server;
}

/** An open server (requireAuth: false, explicitly): takes mail without AUTH. */
const startOpen = (options: Partial<SmtpServerOptions> = {}) => start({ requireAuth: false, ...options });

async function connect(server: SmtpServer, ehlo = true): Promise<RawClient> {
  const client = await RawClient.connect(server.port);
  clients.push(client);
  expect((await client.reply())[0]).toMatch(/^220 localhost ESMTP/);
  if (ehlo) expect((await client.command("EHLO client.test")).at(-1)).toMatch(/^250 /);
  return client;
}

const plainIr = (user: string, password: string) => b64(`\0${user}\0${password}`);

describe("greeting and EHLO", () => {
  it("advertises the extensions and the server halves by priority, never a client-only provider", async () => {
    const server = await start();
    const client = await connect(server, false);
    const ehlo = await client.command("EHLO client.test");
    expect(ehlo).toEqual([
      "250-localhost Hello client.test",
      "250-PIPELINING",
      "250-SIZE 10485760",
      "250-8BITMIME",
      "250-SMTPUTF8",
      "250-ENHANCEDSTATUSCODES",
      "250-CHUNKING",
      "250-BINARYMIME",
      "250 AUTH X-RECORD PLAIN",
    ]);
  });

  it("offers STARTTLS only when a certificate is configured", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert } });
    const client = await connect(server, false);
    expect(await client.command("EHLO c")).toContain("250-STARTTLS");
  });

  it("answers HELO with a single line and refuses an EHLO without a name", async () => {
    const server = await start();
    const client = await connect(server, false);
    expect(await client.command("HELO c.test")).toEqual(["250 localhost Hello c.test"]);
    expect(await client.command("EHLO")).toEqual(["501 5.5.4 Syntax: EHLO hostname"]);
  });

  it("hides cleartext mechanisms and answers 538 when cleartext AUTH is not allowed", async () => {
    const server = await start({ cleartext: "never" });
    const client = await connect(server, false);
    expect((await client.command("EHLO c")).at(-1)).toBe("250 AUTH X-RECORD");
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`)).toEqual(["538 5.7.11 Encryption required for requested authentication mechanism"]);
  });

  it("allows cleartext AUTH by default on loopback", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`)).toEqual(["235 2.7.0 Authentication successful"]);
  });
});

describe("AUTH framing (RFC 4954)", () => {
  it("accepts an initial response and authenticates", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`)).toEqual(["235 2.7.0 Authentication successful"]);
    expect(await client.command("AUTH PLAIN")).toEqual(["503 5.5.1 Already authenticated"]);
  });

  it("sends an empty 334 when there is no initial response", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    expect(await client.command(plainIr("alice", users.alice!))).toEqual(["235 2.7.0 Authentication successful"]);
  });

  it("treats '=' as an empty initial response and no IR as null", async () => {
    recorded.initial.length = 0;
    const server = await start();
    const client = await connect(server);
    expect(await client.command("AUTH X-RECORD =")).toEqual([`334 ${b64("go on")}`]);
    expect(await client.command("*")).toEqual(["501 5.7.0 Authentication cancelled"]);
    expect(await client.command("AUTH x-record")).toEqual([`334 ${b64("go on")}`]);
    expect(await client.command("*")).toEqual(["501 5.7.0 Authentication cancelled"]);
    expect(recorded.initial).toEqual([new Uint8Array(0), null]);
  });

  it("sends success data as a final 334 and 235 after the empty answer", async () => {
    const server = await start();
    const client = await connect(server);
    await client.command(`AUTH X-RECORD ${b64("hi")}`);
    const last = await client.command(b64("ok"));
    expect(last).toHaveLength(1);
    expect(unb64(last[0]!.slice(4))).toBe("done");
    expect(await client.command("")).toEqual(["235 2.7.0 Authentication successful"]);
  });

  it("refuses a non-empty answer to the success-data challenge", async () => {
    const server = await start();
    const client = await connect(server);
    await client.command(`AUTH X-RECORD ${b64("hi")}`);
    await client.command(b64("ok"));
    expect(await client.command(b64("x"))).toEqual(["501 5.5.2 Expected an empty response to the final challenge"]);
  });

  it.each([
    ["fail", "535 5.7.8 Authentication credentials invalid"],
    ["authz", "535 5.7.8 Authentication credentials invalid (authorization identity refused)"],
    ["temp", "454 4.7.0 Temporary authentication failure"],
    ["throw", "454 4.7.0 Temporary authentication failure"],
    ["malformed", "501 5.5.2 X-RECORD response malformed"],
  ])("maps the server half's outcome %s to %s", async (answer, reply) => {
    const server = await start();
    const client = await connect(server);
    await client.command(`AUTH X-RECORD ${b64("hi")}`);
    expect(await client.command(b64(answer))).toEqual([reply]);
  });

  it("rejects malformed base64, unknown mechanisms and a client-only mechanism", async () => {
    const server = await start({ maxAuthFailures: 10 });
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN AGFsaWNl!")).toEqual(["501 5.5.2 Cannot decode initial response"]);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    expect(await client.command("not base64 at all")).toEqual(["501 5.5.2 Cannot decode response"]);
    expect(await client.command("AUTH CRAM-MD5")).toEqual(["504 5.5.4 Unrecognized authentication type"]);
    expect(await client.command("AUTH X-CLIENT-ONLY")).toEqual(["504 5.5.4 Unrecognized authentication type"]);
    expect(await client.command("AUTH PLAIN a b")).toEqual(["501 5.5.4 Syntax: AUTH mechanism [initial-response]"]);
  });

  it("requires EHLO before AUTH and refuses AUTH inside a transaction", async () => {
    const server = await startOpen();
    const client = await connect(server, false);
    expect(await client.command("AUTH PLAIN")).toEqual(["503 5.5.1 Send EHLO first"]);
    await client.command("EHLO c");
    await client.command("MAIL FROM:<a@b.test>");
    expect(await client.command("AUTH PLAIN")).toEqual(["503 5.5.1 AUTH not permitted during a mail transaction"]);
  });

  it("hangs up with 421 after the third failed authentication", async () => {
    const server = await start();
    const client = await connect(server);
    for (let i = 0; i < 2; i++) expect(await client.command(`AUTH PLAIN ${plainIr("alice", "wrong")}`)).toEqual(["535 5.7.8 Authentication credentials invalid"]);
    client.send(`AUTH PLAIN ${plainIr("alice", "wrong")}\r\n`);
    expect(await client.reply()).toEqual(["535 5.7.8 Authentication credentials invalid"]);
    expect((await client.reply())[0]).toMatch(/^421 4\.7\.0 /);
    await client.closed();
  });

  it("hands the server half the channel, port and hostname", async () => {
    recorded.channels.length = 0;
    const server = await start({ hostname: "mx.test" });
    const client = await RawClient.connect(server.port);
    clients.push(client);
    await client.reply();
    await client.command("EHLO c");
    await client.command(`AUTH X-RECORD ${b64("x")}`);
    expect(recorded.channels.at(-1)).toMatchObject({ secure: false, loopback: true, host: "mx.test", port: server.port });
    expect(recorded.hostnames.at(-1)).toBe("mx.test");
  });

  it("masks every AUTH payload in the server transcript", async () => {
    const lines: ServerTranscriptEntry[] = [];
    const server = await start({ transcript: (e) => lines.push(e) });
    const client = await connect(server);
    await client.command("AUTH PLAIN");
    await client.command(plainIr("alice", users.alice!));
    await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`);
    await client.command("QUIT");
    const text = lines.map((l) => `${l.direction}: ${l.text}`).join("\n");
    expect(text).toContain("C: AUTH PLAIN\n");
    expect(text).toContain("C: ****");
    expect(text).toContain("C: AUTH PLAIN ****");
    expect(text).not.toContain(users.alice);
    expect(text).not.toContain(plainIr("alice", users.alice!));
    expect(text).not.toContain(Buffer.from(users.alice!).toString("base64").slice(0, 12));
  });
});

describe("mail transaction", () => {
  it("accepts a pipelined transaction, replies in order and dot-unstuffs the data", async () => {
    const server = await startOpen();
    const client = await connect(server);
    client.send("MAIL FROM:<alice@example.test> BODY=8BITMIME SIZE=100\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n");
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.reply()).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    client.send("Subject: hi\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n");
    const accepted = await client.reply();
    expect(accepted[0]).toMatch(/^250 2\.0\.0 OK queued as [0-9a-f-]{36}$/);
    expect(await client.reply()).toEqual(["221 2.0.0 localhost Bye"]);
    const [message] = server.messages;
    expect(message?.data.toString()).toBe("Subject: hi\r\n\r\n.leading dot\r\n");
    expect(message?.envelope).toMatchObject({ mailFrom: "alice@example.test", rcptTo: ["bob@example.test", "carol@example.test"], helo: "client.test", auth: undefined, secure: false });
    expect(message?.envelope.mailParams).toEqual({ BODY: "8BITMIME", SIZE: "100" });
  });

  it("keeps message data 8-bit clean: a Latin-1 body (not UTF-8) arrives byte for byte", async () => {
    const server = await startOpen();
    const client = await connect(server);
    client.send("MAIL FROM:<alice@example.test> BODY=8BITMIME\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n");
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.reply()).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    // "café" and "Grüße" in ISO-8859-1: 0xE9, 0xFC and 0xDF alone are invalid UTF-8, and a
    // stuffed ".\xE9" line checks unstuffing works on bytes too.
    const body = Buffer.from("Subject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nGr\xfc\xdfe\r\n.\xe9t\xe9\r\n\xff\xfe\x80\r\n", "latin1");
    const stuffed = Buffer.from(body.toString("latin1").replace(/\r\n\./g, "\r\n.."), "latin1");
    client.send(Buffer.concat([stuffed, Buffer.from(".\r\n")]));
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 /);
    const [message] = server.messages;
    expect(message?.data.equals(body)).toBe(true);
    expect(message?.data.toString("hex")).toBe(body.toString("hex"));
  });

  it("records who authenticated in the envelope and streams the message to onData", async () => {
    const seen: string[] = [];
    const server = await start({
      onData: async (stream, envelope) => {
        const data = Buffer.concat(await stream.toArray());
        seen.push(`${envelope.auth?.identity.authcid} ${data.length}`);
      },
    });
    const client = await connect(server);
    await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`);
    await client.command("MAIL FROM:<>");
    await client.command("RCPT TO:<postmaster>");
    await client.command("DATA");
    const next = server.nextMessage(5000);
    expect((await client.command("x\r\n."))[0]).toMatch(/^250 /);
    const message = await next;
    expect(message.envelope.auth).toEqual({ mechanism: "PLAIN", identity: { authcid: "alice", authzid: "alice" } });
    expect(message.envelope.mailFrom).toBe("");
    expect(seen).toEqual(["alice 3"]);
  });

  it("answers 451 and keeps nothing when onData throws", async () => {
    const server = await startOpen({ onData: () => { throw new Error("disk full"); } });
    const client = await connect(server);
    await client.command("MAIL FROM:<a@b.test>");
    await client.command("RCPT TO:<c@d.test>");
    await client.command("DATA");
    expect(await client.command("x\r\n.")).toEqual(["451 4.3.0 Message could not be processed, try again later"]);
    expect(server.messages).toHaveLength(0);
  });

  it("enforces SIZE in MAIL FROM and on the data itself", async () => {
    const server = await startOpen({ maxMessageBytes: 20 });
    const client = await connect(server);
    expect(await client.command("MAIL FROM:<a@b.test> SIZE=21")).toEqual(["552 5.3.4 Message size exceeds fixed maximum message size"]);
    await client.command("MAIL FROM:<a@b.test>");
    await client.command("RCPT TO:<c@d.test>");
    await client.command("DATA");
    expect(await client.command("0123456789\r\n0123456789\r\n.")).toEqual(["552 5.3.4 Message size exceeds fixed maximum message size"]);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(server.messages).toHaveLength(0);
  });

  it("requires authentication when asked", async () => {
    const server = await start({ requireAuth: true });
    const client = await connect(server);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["530 5.7.0 Authentication required"]);
  });

  it("submission by default: MAIL before AUTH is refused with 530 5.7.0 (RFC 6409), accepted after it", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["530 5.7.0 Authentication required"]);
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`)).toEqual(["235 2.7.0 Authentication successful"]);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["250 2.1.0 Sender OK"]);
  });

  it("an open server is explicit: requireAuth: false takes MAIL without AUTH", async () => {
    const server = await startOpen();
    const client = await connect(server);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["250 2.1.0 Sender OK"]);
  });

  it("refuses control characters in EHLO names, paths and parameters: none reaches the envelope", async () => {
    const server = await startOpen();
    const client = await connect(server, false);
    expect((await client.command("EHLO c\u001b[2J"))[0]).toMatch(/^501 5\.5\.4 /);
    expect((await client.command("HELO c\u0000d"))[0]).toMatch(/^501 5\.5\.4 /);
    await client.command("EHLO c");
    expect(await client.command("MAIL FROM:<a\u0000b@c.test>")).toEqual(["501 5.5.4 Control character in the path or its parameters"]);
    expect(await client.command("MAIL FROM:<a@c.test>")).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.command("RCPT TO:<\"x\u0007\"@c.test>")).toEqual(["501 5.5.4 Control character in the path or its parameters"]);
  });

  it("SMTPUTF8 (RFC 6531 §3.4): a non-ASCII address needs SMTPUTF8 on MAIL FROM, answered as Postfix does (553 5.6.7)", async () => {
    const server = await startOpen();
    const client = await connect(server);
    const refused = ["553 5.6.7 Must declare SMTPUTF8 to send unicode address"];
    expect(await client.command("MAIL FROM:<jörg@bücher.test>")).toEqual(refused);
    expect(await client.command("MAIL FROM:<a@b.test> BODY=8BITMIME")).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.command("RCPT TO:<jörg@b.test>")).toEqual(refused);
    expect(await client.command("RCPT TO:<c@d.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.command("RSET")).toEqual(["250 2.0.0 OK"]);
    // Declared, the same addresses are taken as they are.
    expect(await client.command("MAIL FROM:<jörg@bücher.test> SMTPUTF8")).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.command("RCPT TO:<ümlaut@example.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.command("DATA")).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    expect((await client.command("x\r\n."))[0]).toMatch(/^250 2\.0\.0 /);
    expect(server.messages).toHaveLength(1);
    expect(server.messages[0]?.envelope).toMatchObject({ mailFrom: "jörg@bücher.test", rcptTo: ["ümlaut@example.test"], mailParams: { SMTPUTF8: true } });
  });

  it("refuses a command line that is not valid UTF-8 (500 5.5.2, as Postfix) instead of altering it", async () => {
    const server = await startOpen();
    const client = await connect(server);
    const bad = ["500 5.5.2 Error: bad UTF-8 syntax"];
    // 0xFF never occurs in UTF-8; 0xC3 alone is a truncated sequence; 0xC0 0xAF an overlong "/".
    client.send(Buffer.from("MAIL FROM:<j\xffrg@b\xfccher.test> SMTPUTF8\r\n", "latin1"));
    expect(await client.reply()).toEqual(bad);
    expect(await client.command("RCPT TO:<c@d.test>")).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("MAIL FROM:<a@b.test> SMTPUTF8")).toEqual(["250 2.1.0 Sender OK"]);
    client.send(Buffer.from("RCPT TO:<j\xc3@b.test>\r\n", "latin1"));
    expect(await client.reply()).toEqual(bad);
    client.send(Buffer.from("RCPT TO:<\xc0\xaf@b.test>\r\n", "latin1"));
    expect(await client.reply()).toEqual(bad);
    expect(await client.command("RCPT TO:<ü@b.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.command("DATA")).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    expect((await client.command("x\r\n."))[0]).toMatch(/^250 2\.0\.0 /);
    expect(server.messages[0]?.envelope).toMatchObject({ mailFrom: "a@b.test", rcptTo: ["ü@b.test"] });
    expect(JSON.stringify(server.messages[0]?.envelope)).not.toContain("\ufffd");
  });

  it("checks command order and syntax", async () => {
    const server = await startOpen();
    const client = await connect(server, false);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["503 5.5.1 Send EHLO first"]);
    await client.command("EHLO c");
    expect(await client.command("RCPT TO:<a@b.test>")).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("DATA")).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("MAIL FROM:a@b.test")).toEqual(["501 5.5.4 Path must be enclosed in angle brackets"]);
    expect(await client.command("MAIL FROM:<a@b.test> FOO=1")).toEqual(["555 5.5.4 Unsupported parameter FOO"]);
    expect(await client.command("MAIL FROM: <a@b.test>")).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.command("DATA")).toEqual(["554 5.5.1 No valid recipients"]);
    expect(await client.command("RSET")).toEqual(["250 2.0.0 OK"]);
    expect(await client.command("RCPT TO:<a@b.test>")).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("XYZZY 10")).toEqual(["500 5.5.2 Command not recognized"]);
    // BDAT is known now (CHUNKING): without a transaction its chunk is read and dropped, then 503.
    client.send("BDAT 10\r\nNOOP NOOP ");
    expect(await client.reply()).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
  });

  it("hangs up after too many errors", async () => {
    const server = await start({ maxErrors: 3 });
    const client = await connect(server);
    await client.command("FOO");
    await client.command("BAR");
    client.send("BAZ\r\n");
    expect(await client.reply()).toEqual(["500 5.5.2 Command not recognized"]);
    expect((await client.reply())[0]).toMatch(/^421 /);
    await client.closed();
  });

  it("closes on a line longer than the limit", async () => {
    const server = await start({ maxLineBytes: 1000 });
    const client = await connect(server);
    client.send(`NOOP ${"x".repeat(2000)}\r\n`);
    await client.closed();
  });

  it("says 421 when a command does not arrive before the deadline", async () => {
    const server = await start({ commandTimeoutMs: 200 });
    const client = await connect(server, false);
    expect((await client.reply())[0]).toMatch(/^421 4\.4\.2 /);
    await client.closed();
  });
});

describe("TLS", () => {
  it("upgrades with STARTTLS, forgets the EHLO, then accepts a secure message", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert }, cleartext: "never" });
    const client = await connect(server);
    expect(await client.command("STARTTLS")).toEqual(["220 2.0.0 Ready to start TLS"]);
    await client.upgrade(certs.ca);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["503 5.5.1 Send EHLO first"]);
    const ehlo = await client.command("EHLO c");
    expect(ehlo).not.toContain("250-STARTTLS");
    expect(ehlo.at(-1)).toBe("250 AUTH X-RECORD PLAIN");
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", users.alice!)}`)).toEqual(["235 2.7.0 Authentication successful"]);
    expect(await client.command("STARTTLS")).toEqual(["503 5.5.1 TLS already active"]);
    await client.command("MAIL FROM:<a@b.test>");
    await client.command("RCPT TO:<c@d.test>");
    await client.command("DATA");
    await client.command("secret\r\n.");
    expect(server.messages[0]?.envelope.secure).toBe(true);
  });

  it("drops the connection when commands are pipelined after STARTTLS (CVE-2011-0411)", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert } });
    const client = await connect(server);
    client.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n");
    expect(await client.reply()).toEqual(["220 2.0.0 Ready to start TLS"]);
    await client.closed();
  });

  it("speaks TLS from the first byte with implicitTls", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    const client = await RawClient.connect(server.port, { tls: true });
    clients.push(client);
    expect((await client.reply())[0]).toMatch(/^220 /);
    expect(await client.command("EHLO c")).not.toContain("250-STARTTLS");
  });

  it("refuses STARTTLS without a certificate", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command("STARTTLS")).toEqual(["502 5.5.1 STARTTLS not available"]);
  });

  it("requireTls: no AUTH advertised and MAIL refused before TLS", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert }, requireTls: true });
    const client = await connect(server, false);
    expect((await client.command("EHLO c")).join("\n")).not.toContain("AUTH");
    expect(await client.command("AUTH PLAIN")).toEqual(["530 5.7.0 Must issue a STARTTLS command first"]);
    expect(await client.command("MAIL FROM:<a@b.test>")).toEqual(["530 5.7.0 Must issue a STARTTLS command first"]);
  });
});

describe("server life cycle", () => {
  it("close() ends open sessions and frees the port", async () => {
    const server = await SmtpServer.start({ mechanisms: [fakePlain], callbacks });
    const client = await RawClient.connect(server.port);
    clients.push(client);
    await client.reply();
    await server.close();
    await client.closed();
  });

  it("keeps only the newest messages", async () => {
    const server = await startOpen({ keepMessages: 2 });
    const client = await connect(server);
    for (const n of [1, 2, 3]) {
      await client.command("MAIL FROM:<a@b.test>");
      await client.command("RCPT TO:<c@d.test>");
      await client.command("DATA");
      await client.command(`m${n}\r\n.`);
    }
    expect(server.messages.map((m) => m.data.toString())).toEqual(["m2\r\n", "m3\r\n"]);
  });

  it("rejects implicitTls without a certificate", async () => {
    await expect(SmtpServer.start({ callbacks, implicitTls: true })).rejects.toThrow(/needs tls/);
  });
});
