/**
 * @saslkit/smtp against a real Postfix 3.7 (smtpd with Dovecot SASL, test/servers): every
 * mechanism Postfix offers, STARTTLS and implicit TLS with the test CA, cleartext policy, and
 * real mail whose delivered Maildir copy is compared byte for byte with what was sent.
 *
 * Maildir: Dovecot stores CRLF (mail_save_crlf = yes), so a delivered file must END WITH exactly
 * the bytes sent in DATA; before them only header lines (Return-Path from LMTP, Received from
 * Postfix). Servers come from the vitest global setup; unavailable servers skip the suite
 * locally and fail it under CI=true.
 */
import { Readable } from "node:stream";
import MailComposer from "nodemailer/lib/mail-composer";
import { NoMechanismError, type CredentialsInput, type NegotiationPolicy } from "@saslkit/core";
import { SmtpClient, SmtpError, sendMail } from "@saslkit/smtp";
import { describe, expect, it } from "vitest";
import {
  Transcript,
  assertDeliveredExactly,
  assertNoSecrets,
  clientOptions,
  headerNames,
  marker,
  rawMessage,
  realServers,
  rejection,
  waitForDelivered,
  type ServerEnv,
} from "./support/smtp-real.js";

const env = realServers();

describe.skipIf(!env)("SMTP against Postfix (Dovecot SASL)", () => {
  const e = env as ServerEnv;
  const alice = () => e.users.alice!;
  const bob = () => e.users.bob!;
  const aliceCreds = (): CredentialsInput => ({ username: alice().user, password: alice().password });
  const starttls = (auth: CredentialsInput | undefined, policy: NegotiationPolicy, t?: Transcript) =>
    clientOptions(e, { port: e.smtp.port, tls: "starttls", ...(auth ? { auth } : {}), policy, ...(t ? { transcript: t } : {}) });

  /** Sends one raw message to alice on `client` and checks the delivered copy byte for byte. */
  async function sendAndVerify(client: SmtpClient, tag: string, to = alice()): Promise<void> {
    const id = marker(tag);
    const message = rawMessage(e, id, [to.address]);
    const result = await client.send(message, { from: `sender@${e.domain}`, to: [to.address] });
    expect(result.accepted).toEqual([to.address]);
    expect(result.rejected).toEqual([]);
    expect(result.reply.code).toBe(250);
    expect(result.queueId).toMatch(/^[A-Za-z0-9]+$/);
    expect(result.bytes).toBe(Buffer.byteLength(message));
    const delivered = await waitForDelivered(to.user, id, e);
    const prefix = assertDeliveredExactly(delivered, message);
    expect(prefix).toMatch(/^Return-Path: <sender@saslkit\.test>\r\n/);
    expect(prefix).toContain(`Received: from client.saslkit.test`);
  }

  it("the server offers what env.json says, on the lenient listener before and after STARTTLS", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(undefined, {}, t));
    try {
      expect(client.secure).toBe(true);
      expect([...client.capabilities.auth].sort()).toEqual([...e.mechanisms.postfix].sort());
      expect(client.capabilities.auth).not.toContain("EXTERNAL");
      // RFC 3207: the client said EHLO twice, STARTTLS in between, and kept only the second answer.
      const commands = t.client().map((l) => l.split(" ")[0]);
      expect(commands).toEqual(["EHLO", "STARTTLS", "EHLO"]);
      expect(client.capabilities.startTls).toBe(false); // Postfix stops offering STARTTLS once it is on
      expect(client.capabilities.pipelining).toBe(true);
      expect(client.capabilities.smtpUtf8).toBe(true);
      expect(client.capabilities.size).toBe(e.messageSizeLimit);
    } finally {
      await client.quit();
    }
  });

  const passwordMechs = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] as const;
  it.each(passwordMechs)("%s (forced) over STARTTLS sends a message delivered byte for byte", async (mech) => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      expect(client.negotiation?.chosen).toBe(mech);
      expect(t.authLines()).toHaveLength(1);
      expect(t.authLines()[0]).toMatch(new RegExp(`^AUTH ${mech}( \\*\\*\\*\\*)?$`));
      assertNoSecrets(t, [alice().password, `\0${alice().user}\0${alice().password}`]);
      await sendAndVerify(client, mech.toLowerCase());
    } finally {
      await client.quit();
    }
  });

  it.each([["OAUTHBEARER"], ["XOAUTH2"]])("%s (forced) with the env token sends a message", async (mech) => {
    const t = new Transcript();
    const token = e.oauth.tokens.alice;
    const client = await SmtpClient.connect(starttls({ username: alice().user, token }, { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      assertNoSecrets(t, [token]);
      await sendAndVerify(client, mech.toLowerCase());
    } finally {
      await client.quit();
    }
  });

  it("OAUTHBEARER with an inactive token is a typed authentication failure carrying the reply", async () => {
    const t = new Transcript();
    const error = await rejection(SmtpClient.connect(starttls({ username: alice().user, token: e.oauth.invalidToken }, { force: "OAUTHBEARER" }, t)));
    expect(error).toBeInstanceOf(SmtpError);
    const err = error as SmtpError;
    expect(err.phase).toBe("auth");
    expect(err.code).toBe("authentication-failed");
    expect(err.reply?.code).toBe(535);
    assertNoSecrets(t, [e.oauth.invalidToken], [err.message, String(err.command)]);
  });

  it("ANONYMOUS (forced, offered by Postfix) sends a message", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls({ trace: `tester@${e.domain}` }, { force: "ANONYMOUS" }, t));
    try {
      expect(client.authenticatedWith).toBe("ANONYMOUS");
      await sendAndVerify(client, "anonymous");
    } finally {
      await client.quit();
    }
  });

  it("EXTERNAL is not offered by Postfix: forcing it fails before any AUTH line", async () => {
    const t = new Transcript();
    const options = clientOptions(e, { port: e.smtp.port, tls: "starttls", auth: {}, policy: { force: "EXTERNAL" }, clientCert: true, transcript: t });
    const error = await rejection(SmtpClient.connect(options));
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).toBe("no-mechanism");
    expect((error as SmtpError).cause).toBeInstanceOf(NoMechanismError);
    expect(t.authLines()).toEqual([]);
  });

  it("negotiation without force picks SCRAM-SHA-256, the strongest offered, and reports it", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), {}, t));
    try {
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.chosen).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.candidates[0]).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.offered).toEqual(e.mechanisms.postfix);
      expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
      assertNoSecrets(t, [alice().password]);
    } finally {
      await client.quit();
    }
  });

  it("implicit TLS on the SMTPS port: PLAIN and SCRAM-SHA-256, mail delivered", async () => {
    for (const mech of ["PLAIN", "SCRAM-SHA-256"]) {
      const t = new Transcript();
      const client = await SmtpClient.connect(clientOptions(e, { port: e.smtp.tlsPort, tls: "implicit", auth: aliceCreds(), policy: { force: mech }, transcript: t }));
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

  it("without the test CA the certificate check fails with a typed TLS error (STARTTLS and implicit)", async () => {
    for (const [port, tls] of [
      [e.smtp.port, "starttls"],
      [e.smtp.tlsPort, "implicit"],
    ] as const) {
      const t = new Transcript();
      const error = await rejection(SmtpClient.connect(clientOptions(e, { port, tls, auth: aliceCreds(), noCa: true, transcript: t })));
      expect(error).toBeInstanceOf(SmtpError);
      expect((error as SmtpError).phase).toBe("tls");
      expect((error as SmtpError).code).toBe("tls-failed");
      expect(t.authLines()).toEqual([]);
    }
  });

  it("a wrong password gives the typed auth error with Postfix's 535 reply and no fallback to a weaker mechanism", async () => {
    const wrong = "wrong-Secret-9";
    const t = new Transcript();
    const error = await rejection(SmtpClient.connect(starttls({ username: alice().user, password: wrong }, {}, t)));
    expect(error).toBeInstanceOf(SmtpError);
    const err = error as SmtpError;
    expect(err.phase).toBe("auth");
    expect(err.code).toBe("authentication-failed");
    expect(err.reply?.code).toBe(535);
    expect(err.reply?.enhanced).toBe("5.7.8");
    expect(err.saslError?.mechanism).toBe("SCRAM-SHA-256");
    expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
    assertNoSecrets(t, [wrong], [err.message, String(err.command)]);
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

  it.each(["PLAIN", "SCRAM-SHA-256"])("non-ASCII credentials (ümlaut) with %s", async (mech) => {
    const u = e.users["ümlaut"]!;
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls({ username: u.user, password: u.password }, { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      assertNoSecrets(t, [u.password]);
    } finally {
      await client.quit();
    }
  });

  it("SASLprep: user prep with password \\u2168 (ROMAN NUMERAL NINE) authenticates with SCRAM-SHA-256 and SCRAM-SHA-1", async () => {
    const u = e.users.prep!;
    expect(u.saslprepPasswords).toContain("\u2168");
    for (const mech of ["SCRAM-SHA-256", "SCRAM-SHA-1"]) {
      const t = new Transcript();
      const client = await SmtpClient.connect(starttls({ username: u.user, password: "\u2168" }, { force: mech }, t));
      try {
        expect(client.authenticatedWith).toBe(mech);
        assertNoSecrets(t, ["\u2168"]);
      } finally {
        await client.quit();
      }
    }
  });

  it('cleartext to 127.0.0.1 with tls "none" and the default policy: PLAIN is allowed (loopback) and mail goes through', async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(clientOptions(e, { port: e.smtp.port, tls: "none", auth: aliceCreds(), policy: { force: "PLAIN" }, transcript: t }));
    try {
      expect(client.secure).toBe(false);
      expect(client.authenticatedWith).toBe("PLAIN");
      expect(t.client().some((l) => l.startsWith("STARTTLS"))).toBe(false);
      // Masked even in clear: the transcript is the only copy a user would paste into a bug report.
      expect(t.authLines()).toEqual(["AUTH PLAIN ****"]);
      assertNoSecrets(t, [alice().password, `\0${alice().user}\0${alice().password}`]);
      await sendAndVerify(client, "cleartext-plain");
    } finally {
      await client.quit();
    }
  });

  it.each(["PLAIN", "LOGIN"])('cleartext policy "never" refuses %s before sending AUTH', async (mech) => {
    const t = new Transcript();
    const error = await rejection(
      SmtpClient.connect(clientOptions(e, { port: e.smtp.port, tls: "none", auth: aliceCreds(), policy: { force: mech, cleartext: "never" }, transcript: t })),
    );
    expect(error).toBeInstanceOf(SmtpError);
    const err = error as SmtpError;
    expect(err.code).toBe("no-mechanism");
    expect(err.cause).toBeInstanceOf(NoMechanismError);
    expect((err.cause as NoMechanismError).refused.find((r) => r.mechanism === mech)?.reason).toBe("cleartext-password");
    expect(t.authLines()).toEqual([]);
    expect(t.client().some((l) => /^AUTH\b/i.test(l))).toBe(false);
  });

  it('cleartext policy "never" without force still authenticates with a mechanism that reveals no password (SCRAM-SHA-256)', async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(clientOptions(e, { port: e.smtp.port, tls: "none", auth: aliceCreds(), policy: { cleartext: "never" }, transcript: t }));
    try {
      expect(client.secure).toBe(false);
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.refused.map((r) => r.mechanism)).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]));
    } finally {
      await client.quit();
    }
  });

  it("the strict listener (127.0.0.2) offers no AUTH before STARTTLS and the client sends none; after STARTTLS it works", async () => {
    const t = new Transcript();
    const error = await rejection(
      SmtpClient.connect(clientOptions(e, { host: e.strictHost, port: e.smtp.port, tls: "none", auth: aliceCreds(), policy: { cleartext: "allow" }, transcript: t })),
    );
    expect((error as SmtpError).code).toBe("no-mechanism");
    expect(t.authLines()).toEqual([]);
    const client = await SmtpClient.connect(clientOptions(e, { host: e.strictHost, port: e.smtp.port, tls: "starttls", auth: aliceCreds(), policy: { force: "PLAIN" } }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
  });

  it("several messages on one connection are pipelined and each is delivered byte for byte", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, t));
    const ids = [marker("pipe1"), marker("pipe2"), marker("pipe3")];
    const messages = ids.map((id) => rawMessage(e, id, [alice().address], `Message ${id}.\r\n.leading dot line\r\n`));
    try {
      const results = await Promise.all(messages.map((m) => client.send(m, { from: `sender@${e.domain}`, to: [alice().address] })));
      const queueIds = results.map((r) => r.queueId);
      expect(new Set(queueIds).size).toBe(3);
      // RFC 2920: MAIL, RCPT and DATA of a message go out in one write, and the next message's
      // MAIL is written before the previous message's final 250 arrives.
      const lines = t.entries.map((x) => `${x.direction}: ${x.text}`);
      const mails = lines.flatMap((l, i) => (l.startsWith("C: MAIL FROM") ? [i] : []));
      const queued = lines.flatMap((l, i) => (/^S: 250 .*queued as/.test(l) ? [i] : []));
      expect(mails).toHaveLength(3);
      expect(queued).toHaveLength(3);
      expect(mails[1]).toBeLessThan(queued[0]!);
      expect(mails[2]).toBeLessThan(queued[1]!);
      expect(lines[mails[0]! + 1]).toBe(`C: RCPT TO:<${alice().address}>`);
      expect(lines[mails[0]! + 2]).toBe("C: DATA");
      for (const [i, id] of ids.entries()) {
        const delivered = await waitForDelivered(alice().user, id, e);
        // The leading dot was stuffed on the wire and unstuffed by the server.
        assertDeliveredExactly(delivered, messages[i]!);
      }
    } finally {
      await client.quit();
    }
  });

  it("multiple recipients with one refused at RCPT: per-recipient result, the others get the message", async () => {
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }));
    const id = marker("multi-rcpt");
    const nobody = `nobody-${id.slice(-8)}@${e.domain}`;
    const to = [alice().address, nobody, bob().address];
    const message = rawMessage(e, id, to);
    try {
      const result = await client.send(message, { from: `sender@${e.domain}`, to });
      expect(result.accepted).toEqual([alice().address, bob().address]);
      expect(result.rejected).toHaveLength(1);
      expect(result.rejected[0]!.address).toBe(nobody);
      expect(result.rejected[0]!.reply.code).toBe(550);
      expect(result.rejected[0]!.reply.enhanced).toBe("5.1.1");
      for (const user of [alice().user, bob().user]) assertDeliveredExactly(await waitForDelivered(user, id, e), message);
    } finally {
      await client.quit();
    }
  });

  it("every recipient refused: no-recipients error with each refusal, and the connection stays usable", async () => {
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }));
    try {
      const to = [`nobody1@${e.domain}`, `nobody2@${e.domain}`];
      const error = (await rejection(client.send(rawMessage(e, marker("none"), to), { from: `sender@${e.domain}`, to }))) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error.code).toBe("no-recipients");
      expect(error.rejected?.map((r) => r.address)).toEqual(to);
      await sendAndVerify(client, "after-no-recipients");
    } finally {
      await client.quit();
    }
  });

  it("a message from a Readable stream, split at awkward places, is delivered byte for byte", async () => {
    const id = marker("stream");
    const message = rawMessage(e, id, [alice().address], "line one\r\n.starts with a dot\r\n..two dots\r\n\r\nlast line\r\n");
    const bytes = Buffer.from(message);
    // Chunk boundaries inside CRLF and just before a leading dot.
    const cuts = [1, message.indexOf("\r\n") + 1, message.indexOf("\r\n.") + 2, bytes.length - 3];
    const chunks: Buffer[] = [];
    let at = 0;
    for (const cut of cuts) {
      chunks.push(bytes.subarray(at, cut));
      at = cut;
    }
    chunks.push(bytes.subarray(at));
    const result = await sendMail(
      clientOptions(e, { port: e.smtp.port, tls: "starttls", auth: aliceCreds(), policy: { force: "SCRAM-SHA-256" } }),
      Readable.from(chunks),
      { from: `sender@${e.domain}`, to: [alice().address] },
    );
    expect(result.accepted).toEqual([alice().address]);
    assertDeliveredExactly(await waitForDelivered(alice().user, id, e), bytes);
  });

  it("an object message composed by the MIME builder: Bcc gets it, no Bcc header is delivered, bytes match the builder's", async () => {
    const id = marker("composed");
    const mail = {
      from: `Sender <sender@${e.domain}>`,
      to: alice().address,
      bcc: bob().address,
      subject: `Composed ${id} – grüße`,
      text: `Hello ${id}.\nSecond line with ümlauts.\n`,
      messageId: `<${id}@${e.domain}>`,
      date: new Date("2026-01-01T00:00:00Z"),
    };
    const result = await sendMail(clientOptions(e, { port: e.smtp.port, tls: "starttls", auth: aliceCreds(), policy: { force: "PLAIN" } }), mail);
    expect(result.envelope.to).toEqual([alice().address, bob().address]);
    expect(result.accepted).toEqual([alice().address, bob().address]);
    // The same options through the builder give the same bytes (fixed Message-ID and Date, no multipart boundary).
    // MailComposer leaves the text part's bare LFs alone; the client sends every line end as CRLF.
    const built = await new MailComposer(mail).compile().build();
    const expected = Buffer.from(built.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
    expect(built.includes("\r\n")).toBe(true);
    expect(expected.toString("latin1")).not.toMatch(/^bcc:/im);
    for (const user of [alice().user, bob().user]) {
      const delivered = await waitForDelivered(user, id, e);
      expect(headerNames(delivered)).not.toContain("bcc");
      expect(delivered.toString("utf8")).not.toContain(`Bcc:`);
      assertDeliveredExactly(delivered, expected);
    }
  });

  it("SMTPUTF8 and 8BITMIME: a UTF-8 address and raw UTF-8 subject reach ümlaut unchanged", async () => {
    const u = e.users["ümlaut"]!;
    const id = marker("utf8");
    const message = rawMessage(e, id, [u.address], "Grüße aus dem Test – 8bit body.\r\n").replace(`Subject: ${id}`, `Subject: Grüße ${id}`);
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, t));
    try {
      const result = await client.send(message, { from: `sender@${e.domain}`, to: [u.address] });
      expect(result.accepted).toEqual([u.address]);
      const mail = t.client().find((l) => l.startsWith("MAIL FROM"));
      expect(mail).toMatch(/ BODY=8BITMIME/);
      expect(mail).toMatch(/ SMTPUTF8/);
      expect(t.client()).toContain(`RCPT TO:<${u.address}>`);
      assertDeliveredExactly(await waitForDelivered(u.user, id, e), message);
    } finally {
      await client.quit();
    }
  });
});
