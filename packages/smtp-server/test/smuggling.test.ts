/**
 * Issue 10 item 1, SMTP smuggling, played by a hostile client on 127.0.0.1: an authenticated
 * session sends one message whose body holds a fake end-of-data followed by a whole second
 * transaction. Only <CRLF>.<CRLF> ends DATA (RFC 5321 §4.1.1.4), so the second transaction must
 * never run: exactly one reply for the message, the next command answered next, one message
 * stored, its recipients the real ones. Bare CR / LF follow Postfix 3.9's
 * smtpd_forbid_bare_newline (normalize by default, reject on request).
 */
import { describe, expect, it } from "vitest";
import { FAKE_TERMINATORS, onlyCrlf, serverHarness } from "./helpers.js";

const { start, connect, login } = serverHarness();


const SMUGGLED = "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n";

describe("SMTP smuggling: only <CRLF>.<CRLF> ends DATA", () => {
  it.each(FAKE_TERMINATORS)("%s: the bytes after it are content of the first message, never a second transaction (normalize)", async (_name, fake) => {
    const server = await start();
    const client = await login(server);
    expect(await client.command("MAIL FROM:<alice@example.test>")).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.command("RCPT TO:<bob@example.test>")).toEqual(["250 2.1.5 Recipient OK"]);
    expect(await client.command("DATA")).toEqual(["354 End data with <CR><LF>.<CR><LF>"]);
    client.send(`Subject: first\r\n\r\nhello${fake}${SMUGGLED}\r\n.\r\n`);
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued as /);
    // Had the fake terminator ended DATA, the smuggled MAIL/RCPT/DATA replies would come next.
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(server.messages).toHaveLength(1);
    const [message] = server.messages;
    expect(message!.envelope.rcptTo).toEqual(["bob@example.test"]);
    expect(message!.data.toString("latin1")).toContain("MAIL FROM:<evil@attacker.test>\r\n");
    expect(onlyCrlf(message!.data)).toBe(true);
  });

  it.each(FAKE_TERMINATORS)("%s: with bareNewline: reject the message is refused with 550 5.5.2 and the session ends", async (_name, fake) => {
    const server = await start({ bareNewline: "reject" });
    const client = await login(server);
    client.send(`MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n`);
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect((await client.reply())[0]).toBe("354 End data with <CR><LF>.<CR><LF>");
    client.send(`Subject: first\r\n\r\nhello${fake}${SMUGGLED}\r\n.\r\nNOOP\r\n`);
    expect((await client.reply())[0]).toMatch(/^550 5\.5\.2 .*bare <CR> or <LF>/);
    await client.closed();
    expect(server.messages).toHaveLength(0);
  });

  it("a fake terminator dripped one byte per TCP segment does not end DATA either", async () => {
    const server = await start();
    const client = await login(server);
    client.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
    for (let i = 0; i < 3; i++) await client.reply();
    for (const fake of ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n"]) {
      for (const byte of `x${fake}RSET\r\n`) {
        client.send(byte);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    client.send(".\r\n");
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    // Each fake "." line is a content line, unstuffed to an empty one.
    expect(server.messages[0]!.data.toString()).toBe("x\r\n\r\nRSET\r\n".repeat(4));
  });

  it("real pipelining still works: commands after a genuine <CRLF>.<CRLF> in the same segment run in order", async () => {
    const server = await start();
    const client = await login(server);
    client.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
    for (let i = 0; i < 3; i++) await client.reply();
    client.send("one\r\n.\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n");
    expect((await client.reply())[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(await client.reply()).toEqual(["250 2.1.0 Sender OK"]);
    expect(await client.reply()).toEqual(["250 2.1.5 Recipient OK"]);
    expect((await client.reply())[0]).toMatch(/^354 /);
    expect((await client.command("two\r\n."))[0]).toMatch(/^250 2\.0\.0 OK queued/);
    expect(server.messages.map((m) => [m.envelope.rcptTo[0], m.data.toString()])).toEqual([
      ["b@example.test", "one\r\n"],
      ["c@example.test", "two\r\n"],
    ]);
  });
});

describe("bare CR and bare LF in commands", () => {
  it("normalize (default): a command ended by a bare LF is taken as if it ended with CRLF", async () => {
    const server = await start();
    const client = await connect(server);
    client.send("NOOP\n");
    expect(await client.reply()).toEqual(["250 2.0.0 OK"]);
  });

  it("a bare CR inside a command is refused, never taken as a line end", async () => {
    const server = await start({ requireAuth: false });
    const client = await connect(server);
    client.send("RSET\rMAIL FROM:<evil@attacker.test>\r\n");
    expect(await client.reply()).toEqual(["500 5.5.2 Error: bare <CR> received in a command"]);
    expect(await client.command("RCPT TO:<x@example.test>")).toEqual(["503 5.5.1 Need MAIL command"]);
  });

  it("reject: a bare LF in a command gets 550 5.5.2 and the session ends (Postfix 3.9 reject)", async () => {
    const server = await start({ bareNewline: "reject" });
    const client = await connect(server);
    client.send("NOOP\n");
    expect((await client.reply())[0]).toMatch(/^550 5\.5\.2 .*bare <LF> received/);
    await client.closed();
  });
});
