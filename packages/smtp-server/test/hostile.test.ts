/**
 * A hostile client against AUTH and the session limits (review 5b): pipelining around AUTH,
 * cancels, oversized and undecodable responses, clients that stall or never read, and what the
 * transcript keeps. Raw sockets only; each test names the rule it holds the server to.
 */
import { describe, expect, it } from "vitest";
import { testCertificates } from "@saslkit/test-kit";
import type { ServerTranscriptEntry } from "../src/index.js";
import { RawClient, b64, fakePlain, serverHarness, users } from "./helpers.js";

const { start, connect, login, track } = serverHarness();
const plainIr = (user: string, password: string) => b64(`\0${user}\0${password}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("AUTH under pipelining", () => {
  it("an initial response with a transaction pipelined behind it: 235, then the commands run in order", async () => {
    const server = await start();
    const client = await connect(server);
    client.send(`AUTH PLAIN ${plainIr("alice", users.alice!)}\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n`);
    expect(await client.reply()).toEqual(["235 2.7.0 Authentication successful"]);
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect((await client.reply())[0]).toMatch(/^354 /);
    expect((await client.command("hi\r\n."))[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(server.messages.at(-1)?.envelope.auth?.identity.authcid).toBe("alice");
  });

  it("a failed AUTH with a transaction pipelined behind it: the transaction is refused, nothing is accepted", async () => {
    const server = await start();
    const client = await connect(server);
    client.send(`AUTH PLAIN ${plainIr("alice", "wrong")}\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n`);
    expect(await client.reply()).toEqual(["535 5.7.8 Authentication credentials invalid"]);
    expect(await client.reply()).toEqual(["530 5.7.0 Authentication required"]);
    expect(await client.reply()).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(await client.reply()).toEqual(["503 5.5.1 Need MAIL command"]);
    expect(server.messages).toHaveLength(0);
  });

  it("AUTH twice after success is 503, and the first identity stays", async () => {
    const server = await start();
    const client = await login(server);
    expect(await client.command(`AUTH PLAIN ${plainIr("bob", "x")}`)).toEqual(["503 5.5.1 Already authenticated"]);
    expect(await client.command("AUTH X-RECORD")).toEqual(["503 5.5.1 Already authenticated"]);
  });
});

describe("AUTH cancel and failure limits", () => {
  it("'*' cancels at the first and at a later step; each cancel counts as a failure (3 end the session)", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    expect(await client.command("*")).toEqual(["501 5.7.0 Authentication cancelled"]);
    expect((await client.command(`AUTH X-RECORD ${b64("x")}`))[0]).toMatch(/^334 /);
    expect(await client.command("*")).toEqual(["501 5.7.0 Authentication cancelled"]);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    client.send("*\r\n");
    expect(await client.reply()).toEqual(["501 5.7.0 Authentication cancelled"]);
    expect((await client.reply())[0]).toMatch(/^421 4\.7\.0 .*authentication failures/);
    await client.closed();
  });

  it("the failure limit holds across mechanisms and failure kinds", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command(`AUTH PLAIN ${plainIr("alice", "wrong")}`)).toEqual(["535 5.7.8 Authentication credentials invalid"]);
    await client.command(`AUTH X-RECORD ${b64("x")}`);
    expect((await client.command(b64("malformed")))[0]).toMatch(/^501 5\.5\.2 /);
    await client.command(`AUTH X-RECORD ${b64("x")}`);
    client.send(`${b64("fail")}\r\n`);
    expect(await client.reply()).toEqual(["535 5.7.8 Authentication credentials invalid"]);
    expect((await client.reply())[0]).toMatch(/^421 4\.7\.0 /);
    await client.closed();
  });

  it("invalid base64 in a response is 501 and counts as a failure; in an initial response it is 501", async () => {
    const server = await start({ maxAuthFailures: 1 });
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN !!!notbase64")).toEqual(["501 5.5.2 Cannot decode initial response"]);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    client.send("a=b=\r\n");
    expect(await client.reply()).toEqual(["501 5.5.2 Cannot decode response"]);
    expect((await client.reply())[0]).toMatch(/^421 4\.7\.0 /);
    await client.closed();
  });

  it("a response longer than maxLineBytes is refused without being buffered whole, and the session ends", async () => {
    const server = await start({ maxLineBytes: 1024 });
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    client.send("A".repeat(64 * 1024));
    expect(await client.reply()).toEqual(["500 5.5.2 Line too long"]);
    await client.closed();
  });
});

describe("AUTH that never ends", () => {
  it("a client that stops mid-exchange is cut off at the authentication deadline", async () => {
    const server = await start({ authTimeoutMs: 300 });
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    const started = Date.now();
    expect((await client.reply(3000))[0]).toMatch(/^421 4\.7\.0 .*Authentication not completed in time/);
    expect(Date.now() - started).toBeLessThan(1500);
    await client.closed();
  });

  it("a user database that never answers does not hold the session past the authentication deadline", async () => {
    const server = await start({ authTimeoutMs: 300, maxConnectionsPerClient: 1, mechanisms: [fakePlain], callbacks: { verifyPassword: () => new Promise<boolean>(() => undefined) } });
    const client = await connect(server);
    client.send(`AUTH PLAIN ${plainIr("alice", "x")}\r\n`);
    expect((await client.reply(3000))[0]).toMatch(/^421 4\.7\.0 .*Authentication not completed in time/);
    await client.closed(2000);
    // Its slot is free again: the one connection this address may hold is accepted.
    await sleep(50);
    const next = await connect(server, { ehlo: false });
    expect(next.ended).toBe(false);
  });

  it("authenticated: a command dripped one byte at a time still meets its per-line deadline", async () => {
    const server = await start({ commandTimeoutMs: 400 });
    const client = await login(server);
    const started = Date.now();
    let closed = false;
    const drip = (async () => {
      for (const ch of "NOOP NOOP NOOP NOOP NOOP NOOP NOOP") {
        if (client.ended) break;
        client.send(ch);
        await sleep(50);
      }
    })();
    const reply = await client.reply(3000).catch(() => ["closed"]);
    closed = true;
    await drip;
    expect(reply[0]).toMatch(/^421 4\.4\.2 /);
    expect(Date.now() - started).toBeLessThan(1200);
    expect(closed).toBe(true);
  });
});

describe("credentials never reach the transcript", () => {
  const transcriptOf = (lines: ServerTranscriptEntry[]) => lines.map((l) => `${l.direction}: ${l.text}`).join("\n");

  it("a response pipelined behind an AUTH the server refused (538) is not logged as a command", async () => {
    const lines: ServerTranscriptEntry[] = [];
    const server = await start({ cleartext: "never", transcript: (e) => lines.push(e) });
    const client = await connect(server);
    const secret = plainIr("alice", users.alice!);
    client.send(`AUTH PLAIN\r\n${secret}\r\n`);
    expect(await client.reply()).toEqual(["538 5.7.11 Encryption required for requested authentication mechanism"]);
    expect(await client.reply()).toEqual(["500 5.5.2 Command not recognized"]);
    await client.command("QUIT");
    const text = transcriptOf(lines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(users.alice);
  });

  it("LOGIN-style lines pipelined behind AUTH inside a transaction (503) are not logged either", async () => {
    const lines: ServerTranscriptEntry[] = [];
    const server = await start({ transcript: (e) => lines.push(e) });
    const client = await login(server);
    await client.command("MAIL FROM:<a@b.test>");
    const password = b64(users.alice!);
    client.send(`AUTH LOGIN\r\n${b64("alice")}\r\n${password}\r\n`);
    expect(await client.reply()).toEqual(["503 5.5.1 Already authenticated"]);
    await client.reply();
    await client.reply();
    await client.command("QUIT");
    expect(transcriptOf(lines)).not.toContain(password);
  });
});

describe("a client that never reads", () => {
  it("pipelined commands from a client that reads no reply: the server stops reading (bounded), then times out the write", async () => {
    const server = await start({ requireAuth: false, commandTimeoutMs: 1500 });
    const client = await connect(server);
    const burst = Buffer.from("NOOP\r\n".repeat(8 * 1024 * 1024)); // 48 MiB of commands, 112 MiB of replies
    client.pause();
    client.send(burst);
    await sleep(1000);
    // Had the server read on while its replies piled up, the client would have flushed it all.
    expect(client.unsent).toBeGreaterThan(32 * 1024 * 1024);
    await client.closed(8000);
  });
});

describe("STARTTLS command injection (RFC 3207 §4.2, CVE-2011-0411)", () => {
  for (const delay of [0, 5, 30]) {
    it(`a command sent in clear ${delay} ms after STARTTLS (a separate segment) never runs`, async () => {
      const certs = await testCertificates();
      const lines: ServerTranscriptEntry[] = [];
      const server = await start({ tls: { key: certs.key, cert: certs.cert }, transcript: (e) => lines.push(e) });
      const client = await connect(server);
      client.send("STARTTLS\r\n");
      await sleep(delay);
      client.send("NOOP\r\n");
      expect(await client.reply()).toEqual(["220 2.0.0 Ready to start TLS"]);
      await client.closed();
      expect(lines.filter((l) => l.direction === "C").map((l) => l.text)).toEqual(["EHLO client.test", "STARTTLS"]);
    });
  }
});

describe("a TLS handshake that never ends (before authentication)", () => {
  it("STARTTLS, then silence: the session ends at authTimeoutMs, not at the longer command timeout", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert }, authTimeoutMs: 300, commandTimeoutMs: 10_000 });
    const client = await connect(server);
    expect(await client.command("STARTTLS")).toEqual(["220 2.0.0 Ready to start TLS"]);
    const started = Date.now();
    await client.closed(5000);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("implicit TLS, a client that never starts the handshake: ended at authTimeoutMs", async () => {
    const certs = await testCertificates();
    const server = await start({ tls: { key: certs.key, cert: certs.cert }, implicitTls: true, authTimeoutMs: 300, commandTimeoutMs: 10_000 });
    const client = track(await RawClient.connect(server.port));
    const started = Date.now();
    await client.closed(5000);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("envelope and chunk bounds", () => {
  it("RCPT past maxRecipients is 452 4.5.3 and not kept; the message goes to the accepted ones only", async () => {
    const server = await start({ maxRecipients: 2 });
    const client = await login(server);
    await client.command("MAIL FROM:<a@b.test>");
    expect(await client.command("RCPT TO:<r1@d.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.command("RCPT TO:<r2@d.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    for (let i = 0; i < 3; i++) expect(await client.command(`RCPT TO:<x${i}@d.test>`)).toEqual(["452 4.5.3 Too many recipients"]);
    await client.command("DATA");
    expect((await client.command("hi\r\n."))[0]).toMatch(/^250 /);
    expect(server.messages.at(-1)?.envelope.rcptTo).toEqual(["r1@d.test", "r2@d.test"]);
  });

  it("a BDAT size past 15 digits (beyond exact integers) ends the session; its bytes never run as commands", async () => {
    const server = await start();
    const client = await login(server);
    await client.command("MAIL FROM:<a@b.test>");
    await client.command("RCPT TO:<c@d.test>");
    client.send("BDAT 18446744073709551617 LAST\r\nRSET\r\n");
    expect(await client.reply()).toEqual(["501 5.5.4 Syntax: BDAT chunk-size [LAST]"]);
    await client.closed();
  });

  it("a BDAT chunk longer than its size: the surplus is read as commands (RFC 3030), the message holds exactly size bytes", async () => {
    const server = await start();
    const client = await login(server);
    await client.command("MAIL FROM:<a@b.test>");
    await client.command("RCPT TO:<c@d.test>");
    client.send("BDAT 4 LAST\r\nabcdNOOP\r\n");
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(await client.reply()).toEqual(["250 2.0.0 OK"]);
    expect(server.messages.at(-1)?.data.toString()).toBe("abcd");
  });
});

describe("SCRAM over SMTP: an unknown user looks like a wrong password", () => {
  it("same server-first shape (salt length, iterations) and the same 535 for an unknown user as for a known one with a wrong proof", async () => {
    const { scramSha256, deriveScramKeys } = await import("@saslkit/mech-scram");
    const keys = await deriveScramKeys("SHA-256", "right-password", { iterations: 8192 });
    const server = await start({
      mechanisms: [scramSha256],
      callbacks: { lookupScramKeys: (user: string) => (user === "alice" ? keys : undefined) },
      mechanismOptions: { scram: { iterations: 8192, saltLength: keys.salt.length } },
    });
    const attempt = async (user: string) => {
      const client = await connect(server);
      const first = await client.command(`AUTH SCRAM-SHA-256 ${b64(`n,,n=${user},r=abcdefghijklmnop`)}`);
      const serverFirst = Buffer.from(first[0]!.slice(4), "base64").toString();
      const fields = Object.fromEntries(serverFirst.split(",").map((f) => [f[0], f.slice(2)]));
      const final = `c=biws,r=${fields.r},p=${Buffer.alloc(32, 7).toString("base64")}`;
      const reply = await client.command(b64(final));
      return { saltLength: Buffer.from(fields.s!, "base64").length, iterations: fields.i, reply };
    };
    const unknown = await attempt("mallory");
    const known = await attempt("alice");
    expect(unknown).toEqual(known);
    expect(known.reply).toEqual(["535 5.7.8 Authentication credentials invalid"]);
  });
});

describe("bareNewline: reject covers AUTH responses too", () => {
  it("an AUTH response ended by a bare LF gets 550 5.5.2 and the session ends, as a command would", async () => {
    const server = await start({ bareNewline: "reject" });
    const client = await connect(server);
    expect(await client.command("AUTH PLAIN")).toEqual(["334 "]);
    client.send(`${plainIr("alice", users.alice!)}\n`);
    expect((await client.reply())[0]).toMatch(/^550 5\.5\.2 /);
    await client.closed();
  });
});
