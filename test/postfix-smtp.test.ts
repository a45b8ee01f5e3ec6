/**
 * @saslkit/smtp against a real Postfix 3.7 (smtpd with Dovecot SASL, test/servers): every
 * mechanism Postfix offers, STARTTLS and implicit TLS with the test CA, cleartext policy, and
 * real mail whose delivered Maildir copy is compared byte for byte with what was sent.
 *
 * The checks Postfix shares with Dovecot submission live in test/support/smtp-suite.ts; this file
 * states how Postfix differs (implicit TLS port, ANONYMOUS and SMTPUTF8 offered, no EXTERNAL,
 * full cross-message pipelining) and holds the checks only Postfix runs.
 *
 * Maildir: Dovecot stores CRLF (mail_save_crlf = yes), so a delivered file must END WITH exactly
 * the bytes sent in DATA; before them only header lines (Return-Path from LMTP, Received from
 * Postfix). Servers come from the vitest global setup; unavailable servers skip the suite
 * locally and fail it under CI=true.
 */
import { plain } from "@saslkit/mech-plain";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import { SmtpServer } from "@saslkit/smtp-server";
import { Deadline, LineSocket } from "@saslkit/transport";
import { describe, expect, it } from "vitest";
import { defineSmtpSuite } from "./support/smtp-suite.js";
import { Transcript, assertDeliveredExactly, assertNoSecrets, clientOptions, marker, rawMessage, realServers, rejection, waitForDelivered } from "./support/smtp-real.js";

const env = realServers();

describe.skipIf(!env)("SMTP against Postfix (Dovecot SASL)", () => {
  const { env: e, alice, aliceCreds, starttls, sendAndVerify } = defineSmtpSuite(env, {
    key: "postfix",
    port: (x) => x.smtp.port,
    implicitTlsPort: (x) => x.smtp.tlsPort,
    tag: "",
    offersExternal: false, // Postfix cannot pass the client certificate to Dovecot's auth
    offersAnonymous: true,
    smtpUtf8: true,
    receivedHops: 1,
    oauthUser: "alice",
    pipelining: { mode: "full", mechanism: "PLAIN" },
  });

  it("OAUTHBEARER with an inactive token is a typed authentication failure carrying the reply", async () => {
    const t = new Transcript();
    const error = await rejection(SmtpClient.connect(starttls({ username: alice().user, token: e().oauth.invalidToken }, { force: "OAUTHBEARER" }, t)));
    expect(error).toBeInstanceOf(SmtpError);
    const err = error as SmtpError;
    expect(err.phase).toBe("authenticate");
    expect(err.code).toBe("authentication-failed");
    expect(err.reply?.code).toBe(535);
    assertNoSecrets(t, [e().oauth.invalidToken], [err.message, String(err.command)]);
  });

  it("ANONYMOUS (forced, offered by Postfix) sends a message", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls({ trace: `tester@${e().domain}` }, { force: "ANONYMOUS" }, t));
    try {
      expect(client.authenticatedWith).toBe("ANONYMOUS");
      await sendAndVerify(client, "anonymous");
    } finally {
      await client.quit();
    }
  });

  it("implicit TLS on the SMTPS port: PLAIN and SCRAM-SHA-256, mail delivered", async () => {
    for (const mech of ["PLAIN", "SCRAM-SHA-256"]) {
      const t = new Transcript();
      const options: SmtpClientOptions = clientOptions(e(), { port: e().smtp.tlsPort, tls: "implicit", auth: aliceCreds(), policy: { force: mech }, transcript: t });
      const client = await SmtpClient.connect(options);
      try {
        expect(client.secure).toBe(true);
        expect(t.client().filter((l) => l.startsWith("STARTTLS"))).toEqual([]);
        expect(client.authenticatedWith).toBe(mech);
        await sendAndVerify(client, `smtps-${mech.toLowerCase()}`);
      } finally {
        await client.quit();
      }
    }
  });

  it("a wrong password with forced PLAIN: 535, one AUTH line, nothing secret in the transcript or error", async () => {
    const wrong = "wrong-Secret-9";
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(starttls({ username: alice().user, password: wrong }, { force: "PLAIN" }, t)))) as SmtpError;
    expect(error.code).toBe("authentication-failed");
    expect(error.reply?.code).toBe(535);
    expect(error.command).toBe("AUTH PLAIN ****");
    expect(t.authLines()).toEqual(["AUTH PLAIN ****"]);
    assertNoSecrets(t, [wrong, `\0${alice().user}\0${wrong}`], [error.message, String(error.command)]);
  });

  it("every recipient refused: no-recipients error with each refusal, and the connection stays usable", async () => {
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }));
    try {
      const to = [`nobody1@${e().domain}`, `nobody2@${e().domain}`];
      const error = (await rejection(client.send(rawMessage(e(), marker("none"), to), { from: `sender@${e().domain}`, to }))) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error.code).toBe("no-recipients");
      expect(error.rejected?.map((r) => r.address)).toEqual(to);
      await sendAndVerify(client, "after-no-recipients");
    } finally {
      await client.quit();
    }
  });

  it("SMTPUTF8 and 8BITMIME: a UTF-8 address and raw UTF-8 subject reach ümlaut unchanged", async () => {
    const u = e().users["ümlaut"]!;
    const id = marker("utf8");
    const message = rawMessage(e(), id, [u.address], "Grüße aus dem Test – 8bit body.\r\n").replace(`Subject: ${id}`, `Subject: Grüße ${id}`);
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, t));
    try {
      const result = await client.send(message, { from: `sender@${e().domain}`, to: [u.address] });
      expect(result.accepted).toEqual([u.address]);
      const mail = t.client().find((l) => l.startsWith("MAIL FROM"));
      expect(mail).toMatch(/ BODY=8BITMIME/);
      expect(mail).toMatch(/ SMTPUTF8/);
      expect(t.client()).toContain(`RCPT TO:<${u.address}>`);
      assertDeliveredExactly(await waitForDelivered(u.user, id, e()), message);
    } finally {
      await client.quit();
    }
  });

  // Postfix refuses an undeclared UTF-8 address only with strict_smtputf8 = yes (default no; the
  // test Postfix keeps the default), with "553 5.6.7 Must declare SMTPUTF8 to send unicode
  // address": the embedded server is strict (RFC 6531) and answers with those words.
  it("a command line that is not UTF-8 gets the same answer from the embedded server as from Postfix (500 5.5.2); an undeclared UTF-8 address only differs by Postfix's lenient default", async () => {
    const dialogue = async (host: string, port: number): Promise<string[]> => {
      const socket = await LineSocket.connect({ host, port, connectTimeoutMs: 10000 });
      const deadline = Deadline.in(20000);
      const reply = async () => {
        let line: string;
        do line = await socket.readLine(deadline);
        while (/^\d{3}-/.test(line));
        return line;
      };
      const answers: string[] = [];
      try {
        await reply();
        for (const command of [
          "EHLO test.saslkit.test",
          `MAIL FROM:<sender@${e().domain}>`,
          Buffer.from(`RCPT TO:<j\xf6rg@${e().domain}>`, "latin1"),
          "RSET",
          `MAIL FROM:<jörg@${e().domain}>`,
          "RSET",
        ]) {
          await socket.write(typeof command === "string" ? `${command}\r\n` : Buffer.concat([command, Buffer.from("\r\n")]));
          answers.push(await reply());
        }
        await socket.writeLine("QUIT");
      } finally {
        await socket.close();
      }
      return answers;
    };
    const postfix = await dialogue(e().host, e().smtp.port);
    const server = await SmtpServer.start({ mechanisms: [plain], callbacks: { verifyPassword: () => false }, requireAuth: false });
    let embedded: string[];
    try {
      embedded = await dialogue("127.0.0.1", server.port);
    } finally {
      await server.close();
    }
    expect(postfix[2]).toBe("500 5.5.2 Error: bad UTF-8 syntax");
    expect(embedded[2]).toBe(postfix[2]);
    expect(postfix[4]).toMatch(/^250 2\.1\.0 /);
    expect(embedded[4]).toBe("553 5.6.7 Must declare SMTPUTF8 to send unicode address");
    expect([postfix[1], embedded[1]].map((l) => l?.slice(0, 9))).toEqual(["250 2.1.0", "250 2.1.0"]);
  });
});
