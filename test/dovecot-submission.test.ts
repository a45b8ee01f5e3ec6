/**
 * @saslkit/smtp against Dovecot 2.3's submission service (test/servers), which authenticates
 * with Dovecot's own SASL (EXTERNAL from the client certificate included, no ANONYMOUS) and
 * relays to Postfix, which delivers over LMTP. Every offered mechanism sends a real message whose
 * Maildir copy must end with exactly the bytes sent (Dovecot stores CRLF), preceded only by
 * header lines (Return-Path, Postfix's Received, Dovecot submission's Received).
 *
 * Dovecot submission offers 8BITMIME but not SMTPUTF8. Servers come from the vitest global
 * setup; unavailable servers skip the suite locally and fail it under CI=true.
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
  type ClientOptionsInput,
  type ServerEnv,
} from "./support/smtp-real.js";

const env = realServers();

describe.skipIf(!env)("SMTP against Dovecot submission (relaying through Postfix)", () => {
  const e = env as ServerEnv;
  const alice = () => e.users.alice!;
  const bob = () => e.users.bob!;
  const aliceCreds = (): CredentialsInput => ({ username: alice().user, password: alice().password });
  const submission = (auth: CredentialsInput | undefined, policy: NegotiationPolicy, t?: Transcript, more: Partial<ClientOptionsInput> = {}) =>
    clientOptions(e, { port: e.submission.port, tls: "starttls", ...(auth ? { auth } : {}), policy, ...(t ? { transcript: t } : {}), ...more });

  /** Sends one raw message to `to` on `client`; checks the result and the delivered copy byte for byte. */
  async function sendAndVerify(client: SmtpClient, tag: string, to = alice()): Promise<string> {
    const id = marker(tag);
    const message = rawMessage(e, id, [to.address]);
    const result = await client.send(message, { from: `sender@${e.domain}`, to: [to.address] });
    expect(result.accepted).toEqual([to.address]);
    expect(result.rejected).toEqual([]);
    expect(result.reply.code).toBe(250);
    expect(result.bytes).toBe(Buffer.byteLength(message));
    const prefix = assertDeliveredExactly(await waitForDelivered(to.user, id, e), message);
    expect(prefix).toMatch(/^Return-Path: <sender@saslkit\.test>\r\n/);
    // One Received from Postfix, one from Dovecot submission (which saw our EHLO name).
    expect(prefix.match(/^Received: /gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
    expect(prefix).toContain("client.saslkit.test");
    return prefix;
  }

  it("offers what env.json says after STARTTLS; the capabilities used are those of the second EHLO", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(undefined, {}, t));
    try {
      expect(client.secure).toBe(true);
      expect(t.client().map((l) => l.split(" ")[0])).toEqual(["EHLO", "STARTTLS", "EHLO"]);
      expect([...client.capabilities.auth].sort()).toEqual([...e.mechanisms.submission].sort());
      expect(client.capabilities.auth).toContain("EXTERNAL");
      expect(client.capabilities.auth).not.toContain("ANONYMOUS");
      expect(client.capabilities.startTls).toBe(false);
      expect(client.capabilities.eightBitMime).toBe(true);
      expect(client.capabilities.smtpUtf8).toBe(false);
      expect(client.capabilities.pipelining).toBe(true);
    } finally {
      await client.quit();
    }
  });

  it.each(["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"])("%s (forced) sends a message delivered byte for byte", async (mech) => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      expect(t.authLines()).toHaveLength(1);
      assertNoSecrets(t, [alice().password, `\0${alice().user}\0${alice().password}`]);
      await sendAndVerify(client, `sub-${mech.toLowerCase()}`);
    } finally {
      await client.quit();
    }
  });

  it.each(["OAUTHBEARER", "XOAUTH2"])("%s (forced) with the env token sends a message", async (mech) => {
    const t = new Transcript();
    const token = e.oauth.tokens.bob;
    const client = await SmtpClient.connect(submission({ username: bob().user, token }, { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      assertNoSecrets(t, [token]);
      await sendAndVerify(client, `sub-${mech.toLowerCase()}`);
    } finally {
      await client.quit();
    }
  });

  it("EXTERNAL (forced) with the client certificate sends a message", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission({}, { force: "EXTERNAL" }, t, { clientCert: true }));
    try {
      expect(client.authenticatedWith).toBe("EXTERNAL");
      expect(e.clientCert.user).toBe("alice");
      await sendAndVerify(client, "sub-external");
    } finally {
      await client.quit();
    }
  });

  it("EXTERNAL without a client certificate is refused by the server with a typed error", async () => {
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(submission({}, { force: "EXTERNAL" }, t)))) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.phase).toBe("auth");
    expect(error.reply?.code).toBeGreaterThanOrEqual(500);
    expect(t.authLines()).toHaveLength(1);
  });

  it("ANONYMOUS is not offered by submission: forcing it fails before any AUTH line", async () => {
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(submission({ trace: "x@y.test" }, { force: "ANONYMOUS" }, t)))) as SmtpError;
    expect(error.code).toBe("no-mechanism");
    expect(error.cause).toBeInstanceOf(NoMechanismError);
    expect(t.authLines()).toEqual([]);
  });

  it("negotiation without force picks SCRAM-SHA-256, never EXTERNAL (explicit only) even with a certificate", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), {}, t, { clientCert: true }));
    try {
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.chosen).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.refused.find((r) => r.mechanism === "EXTERNAL")?.reason).toBe("explicit-only");
      expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
    } finally {
      await client.quit();
    }
  });

  it("a wrong password: typed auth error with the server's 535 reply, no fallback", async () => {
    const wrong = "wrong-Secret-9";
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(submission({ username: alice().user, password: wrong }, {}, t)))) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.phase).toBe("auth");
    expect(error.code).toBe("authentication-failed");
    expect(error.reply?.code).toBe(535);
    expect(error.saslError?.mechanism).toBe("SCRAM-SHA-256");
    expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
    assertNoSecrets(t, [wrong], [error.message, String(error.command)]);
  });

  it("without the test CA the STARTTLS certificate check fails with a typed TLS error", async () => {
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(submission(aliceCreds(), {}, t, { noCa: true })))) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.phase).toBe("tls");
    expect(error.code).toBe("tls-failed");
    expect(t.authLines()).toEqual([]);
  });

  it.each(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"])("non-ASCII credentials (ümlaut) with %s", async (mech) => {
    const u = e.users["ümlaut"]!;
    const t = new Transcript();
    const client = await SmtpClient.connect(submission({ username: u.user, password: u.password }, { force: mech }, t));
    try {
      expect(client.authenticatedWith).toBe(mech);
      assertNoSecrets(t, [u.password]);
    } finally {
      await client.quit();
    }
  });

  it("SASLprep: prep / \\u2168 authenticates with SCRAM-SHA-256 and sends a message", async () => {
    const u = e.users.prep!;
    const client = await SmtpClient.connect(submission({ username: u.user, password: "\u2168" }, { force: "SCRAM-SHA-256" }));
    try {
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      await sendAndVerify(client, "sub-prep", u);
    } finally {
      await client.quit();
    }
  });

  it('tls "none" to 127.0.0.1 with the default policy: PLAIN allowed (loopback); with cleartext "never" PLAIN and LOGIN are refused before AUTH', async () => {
    const ok = new Transcript();
    const client = await SmtpClient.connect(clientOptions(e, { port: e.submission.port, tls: "none", auth: aliceCreds(), policy: { force: "PLAIN" }, transcript: ok }));
    try {
      expect(client.secure).toBe(false);
      expect(client.authenticatedWith).toBe("PLAIN");
      assertNoSecrets(ok, [alice().password, `\0${alice().user}\0${alice().password}`]);
      await sendAndVerify(client, "sub-cleartext");
    } finally {
      await client.quit();
    }
    for (const mech of ["PLAIN", "LOGIN"]) {
      const t = new Transcript();
      const error = (await rejection(
        SmtpClient.connect(clientOptions(e, { port: e.submission.port, tls: "none", auth: aliceCreds(), policy: { force: mech, cleartext: "never" }, transcript: t })),
      )) as SmtpError;
      expect(error.code).toBe("no-mechanism");
      expect((error.cause as NoMechanismError).refused.find((r) => r.mechanism === mech)?.reason).toBe("cleartext-password");
      expect(t.client().some((l) => /^AUTH\b/i.test(l))).toBe(false);
    }
  });

  it("the strict listener (127.0.0.2) offers no password mechanism before TLS; the client does not send PLAIN there", async () => {
    const t = new Transcript();
    const strict = { host: e.strictHost, port: e.submission.port, tls: "none" as const, auth: aliceCreds(), transcript: t };
    const error = (await rejection(SmtpClient.connect(clientOptions(e, { ...strict, policy: { force: "PLAIN", cleartext: "allow" } })))) as SmtpError;
    expect(error.code).toBe("no-mechanism");
    expect((error.cause as NoMechanismError).offered).toEqual(e.strictMechanismsBeforeTls.submission);
    expect(t.authLines()).toEqual([]);
    const client = await SmtpClient.connect(clientOptions(e, { host: e.strictHost, port: e.submission.port, tls: "starttls", auth: aliceCreds(), policy: { force: "PLAIN" } }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
  });

  // Dovecot 2.3.19 (Debian 12) submission panics when the next message's MAIL/RCPT/DATA arrive
  // right behind the previous end-of-data dot, as RFC 2920 allows
  // ("smtp_server_transaction_finished: assertion failed: (conn->state.pending_rcpt_cmds == 0)"),
  // after relaying the first message. The client recognises Dovecot by its greeting and then
  // pipelines within each transaction only (pipelining "transaction"); this test asserts that
  // every message is delivered and confirmed.
  it("several messages on one connection, pipelined, each delivered byte for byte", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: "SCRAM-SHA-256" }, t));
    const ids = [marker("sub-pipe1"), marker("sub-pipe2"), marker("sub-pipe3")];
    const messages = ids.map((id) => rawMessage(e, id, [alice().address], `Body of ${id}.\r\n.dot\r\n`));
    try {
      // Dovecot 2.3 submission panics on cross-message pipelining, so the client recognises it and
      // pipelines within each transaction only (see packages/smtp/README.md).
      expect(client.quirks).toContain("dovecot-submission");
      expect(client.pipelining).toBe("transaction");
      const results = await Promise.all(messages.map((m) => client.send(m, { from: `sender@${e.domain}`, to: [alice().address] })));
      expect(results.map((r) => r.reply.code)).toEqual([250, 250, 250]);
      const lines = t.entries.map((x) => `${x.direction}: ${x.text}`);
      const mails = lines.flatMap((l, i) => (l.startsWith("C: MAIL FROM") ? [i] : []));
      expect(mails).toHaveLength(3);
      expect(lines.slice(mails[0]! + 1, mails[0]! + 3)).toEqual([`C: RCPT TO:<${alice().address}>`, "C: DATA"]);
      for (const [i, id] of ids.entries()) assertDeliveredExactly(await waitForDelivered(alice().user, id, e), messages[i]!);
    } finally {
      await client.quit();
    }
  });

  it("several messages on one connection with pipelining off: sent one after another, each delivered byte for byte", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: "SCRAM-SHA-256" }, t, { extra: { pipelining: false } }));
    const ids = [marker("sub-seq1"), marker("sub-seq2"), marker("sub-seq3")];
    const messages = ids.map((id) => rawMessage(e, id, [alice().address], `Body of ${id}.\r\n.dot\r\n`));
    try {
      const results = await Promise.all(messages.map((m) => client.send(m, { from: `sender@${e.domain}`, to: [alice().address] })));
      expect(results.map((r) => r.reply.code)).toEqual([250, 250, 250]);
      // Without PIPELINING each command waits for its reply: MAIL of message 2 follows message 1's final reply.
      const lines = t.entries.map((x) => `${x.direction}: ${x.text}`);
      const mails = lines.flatMap((l, i) => (l.startsWith("C: MAIL FROM") ? [i] : []));
      expect(mails).toHaveLength(3);
      expect(lines[mails[0]! + 1]).toMatch(/^S: 250 /);
      expect(lines[mails[1]! - 1]).toMatch(/^S: 250 /);
      for (const [i, id] of ids.entries()) assertDeliveredExactly(await waitForDelivered(alice().user, id, e), messages[i]!);
    } finally {
      await client.quit();
    }
  });

  it("multiple recipients with one refused: per-recipient result, the others get the message", async () => {
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: "PLAIN" }));
    const id = marker("sub-multi");
    const nobody = `nobody-${id.slice(-8)}@${e.domain}`;
    const to = [alice().address, nobody, bob().address];
    const message = rawMessage(e, id, to);
    try {
      const result = await client.send(message, { from: `sender@${e.domain}`, to });
      expect(result.accepted).toEqual([alice().address, bob().address]);
      expect(result.rejected.map((r) => r.address)).toEqual([nobody]);
      // Dovecot submission passes on Postfix's refusal.
      expect(result.rejected[0]!.reply.code).toBe(550);
      expect(result.rejected[0]!.reply.enhanced).toBe("5.1.1");
      for (const user of [alice().user, bob().user]) assertDeliveredExactly(await waitForDelivered(user, id, e), message);
    } finally {
      await client.quit();
    }
  });

  it("a message from a Readable stream is delivered byte for byte", async () => {
    const id = marker("sub-stream");
    const message = rawMessage(e, id, [alice().address], ".\r\n..\r\nend\r\n");
    const bytes = Buffer.from(message);
    const chunks = [bytes.subarray(0, 7), bytes.subarray(7, bytes.length - 5), bytes.subarray(bytes.length - 5)];
    const result = await sendMail(submission(aliceCreds(), { force: "PLAIN" }), Readable.from(chunks), { from: `sender@${e.domain}`, to: [alice().address] });
    expect(result.accepted).toEqual([alice().address]);
    assertDeliveredExactly(await waitForDelivered(alice().user, id, e), bytes);
  });

  it("a composed message with Bcc: both get it, no Bcc header delivered, bytes match the MIME builder's", async () => {
    const id = marker("sub-composed");
    const mail = {
      from: `sender@${e.domain}`,
      to: alice().address,
      bcc: bob().address,
      subject: `Composed ${id}`,
      text: `Hello ${id}.\n`,
      messageId: `<${id}@${e.domain}>`,
      date: new Date("2026-01-01T00:00:00Z"),
    };
    const result = await sendMail(submission(aliceCreds(), { force: "PLAIN" }), mail);
    expect(result.accepted).toEqual([alice().address, bob().address]);
    const built = await new MailComposer(mail).compile().build();
    const expected = Buffer.from(built.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
    for (const user of [alice().user, bob().user]) {
      const delivered = await waitForDelivered(user, id, e);
      expect(headerNames(delivered)).not.toContain("bcc");
      assertDeliveredExactly(delivered, expected);
    }
  });

  it("8BITMIME: a raw UTF-8 subject and body go with BODY=8BITMIME and arrive unchanged", async () => {
    const id = marker("sub-8bit");
    const message = rawMessage(e, id, [alice().address], "Grüße – 8bit body.\r\n").replace(`Subject: ${id}`, `Subject: Grüße ${id}`);
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: "PLAIN" }, t));
    try {
      await client.send(message, { from: `sender@${e.domain}`, to: [alice().address] });
      expect(t.client().find((l) => l.startsWith("MAIL FROM"))).toMatch(/ BODY=8BITMIME/);
      expect(t.client().find((l) => l.startsWith("MAIL FROM"))).not.toMatch(/SMTPUTF8/);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e), message);
    } finally {
      await client.quit();
    }
  });

  it("SMTPUTF8 is not offered: a UTF-8 address fails with smtputf8-required before MAIL, and the connection stays usable", async () => {
    const u = e.users["ümlaut"]!;
    const t = new Transcript();
    const client = await SmtpClient.connect(submission(aliceCreds(), { force: "PLAIN" }, t));
    try {
      const error = (await rejection(client.send(rawMessage(e, marker("sub-utf8"), [u.address]), { from: `sender@${e.domain}`, to: [u.address] }))) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error.code).toBe("smtputf8-required");
      expect(t.client().some((l) => l.startsWith("MAIL FROM"))).toBe(false);
      await sendAndVerify(client, "sub-after-utf8");
    } finally {
      await client.quit();
    }
  });
});
