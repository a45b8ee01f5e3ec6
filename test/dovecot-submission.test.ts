/**
 * @saslkit/smtp against Dovecot 2.3's submission service (test/servers), which authenticates
 * with Dovecot's own SASL (EXTERNAL from the client certificate included, no ANONYMOUS) and
 * relays to Postfix, which delivers over LMTP. Every offered mechanism sends a real message whose
 * Maildir copy must end with exactly the bytes sent (Dovecot stores CRLF), preceded only by
 * header lines (Return-Path, Postfix's Received, Dovecot submission's Received).
 *
 * The checks submission shares with Postfix live in test/support/smtp-suite.ts; this file states
 * how submission differs (EXTERNAL offered, no ANONYMOUS, 8BITMIME but not SMTPUTF8, two hops,
 * pipelining within a transaction only) and holds the checks only submission runs. Servers come
 * from the vitest global setup; unavailable servers skip the suite locally and fail it under
 * CI=true.
 */
import { SmtpClient, SmtpError } from "@saslkit/smtp";
import { describe, expect, it } from "vitest";
import { defineSmtpSuite } from "./support/smtp-suite.js";
import { Transcript, assertDeliveredExactly, marker, rawMessage, realServers, rejection, waitForDelivered } from "./support/smtp-real.js";

const env = realServers();

describe.skipIf(!env)("SMTP against Dovecot submission (relaying through Postfix)", () => {
  const { env: e, alice, aliceCreds, starttls, sendAndVerify } = defineSmtpSuite(env, {
    key: "submission",
    port: (x) => x.submission.port,
    tag: "sub-",
    offersExternal: true,
    offersAnonymous: false,
    smtpUtf8: false,
    receivedHops: 2, // Postfix's and Dovecot submission's
    oauthUser: "bob",
    // Dovecot 2.3 submission panics on cross-message pipelining; the client recognises it.
    pipelining: { mode: "transaction", mechanism: "SCRAM-SHA-256" },
  });

  it('prepare: "saslprep" logs the user whose stored password is IX in with "\u2168"; as given it is refused', async () => {
    const prep = { username: e().users["prep"]!.user, password: "\u2168" };
    const refused = (await rejection(SmtpClient.connect(starttls(prep, { force: "PLAIN" }, new Transcript())))) as SmtpError;
    expect(refused).toMatchObject({ phase: "authenticate", code: "authentication-failed" });
    const client = await SmtpClient.connect(starttls(prep, { force: "PLAIN" }, new Transcript(), { extra: { prepare: "saslprep" } }));
    try {
      expect(client.authenticatedWith).toBe("PLAIN");
    } finally {
      await client.quit();
    }
  });

  it("EXTERNAL (forced) with the client certificate sends a message", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls({}, { force: "EXTERNAL" }, t, { clientCert: true }));
    try {
      expect(client.authenticatedWith).toBe("EXTERNAL");
      expect(e().clientCert.user).toBe("alice");
      await sendAndVerify(client, "external");
    } finally {
      await client.quit();
    }
  });

  it("EXTERNAL without a client certificate is refused by the server with a typed error", async () => {
    const t = new Transcript();
    const error = (await rejection(SmtpClient.connect(starttls({}, { force: "EXTERNAL" }, t)))) as SmtpError;
    expect(error).toBeInstanceOf(SmtpError);
    expect(error.phase).toBe("authenticate");
    expect(error.reply?.code).toBeGreaterThanOrEqual(500);
    expect(t.authLines()).toHaveLength(1);
  });

  it("several messages on one connection with pipelining off: sent one after another, each delivered byte for byte", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "SCRAM-SHA-256" }, t, { extra: { pipelining: false } }));
    const ids = [marker("sub-seq1"), marker("sub-seq2"), marker("sub-seq3")];
    const messages = ids.map((id) => rawMessage(e(), id, [alice().address], `Body of ${id}.\r\n.dot\r\n`));
    try {
      const results = await Promise.all(messages.map((m) => client.send(m, { from: `sender@${e().domain}`, to: [alice().address] })));
      expect(results.map((r) => r.reply.code)).toEqual([250, 250, 250]);
      // Without PIPELINING each command waits for its reply: MAIL of message 2 follows message 1's final reply.
      const lines = t.entries.map((x) => `${x.direction}: ${x.text}`);
      const mails = lines.flatMap((l, i) => (l.startsWith("C: MAIL FROM") ? [i] : []));
      expect(mails).toHaveLength(3);
      expect(lines[mails[0]! + 1]).toMatch(/^S: 250 /);
      expect(lines[mails[1]! - 1]).toMatch(/^S: 250 /);
      for (const [i, id] of ids.entries()) assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), messages[i]!);
    } finally {
      await client.quit();
    }
  });

  it("8BITMIME: a raw UTF-8 subject and body go with BODY=8BITMIME and arrive unchanged", async () => {
    const id = marker("sub-8bit");
    const message = rawMessage(e(), id, [alice().address], "Grüße – 8bit body.\r\n").replace(`Subject: ${id}`, `Subject: Grüße ${id}`);
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, t));
    try {
      await client.send(message, { from: `sender@${e().domain}`, to: [alice().address] });
      expect(t.client().find((l) => l.startsWith("MAIL FROM"))).toMatch(/ BODY=8BITMIME/);
      expect(t.client().find((l) => l.startsWith("MAIL FROM"))).not.toMatch(/SMTPUTF8/);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), message);
    } finally {
      await client.quit();
    }
  });

  it("SMTPUTF8 is not offered: a UTF-8 address fails with smtputf8-required before MAIL, and the connection stays usable", async () => {
    const u = e().users["ümlaut"]!;
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, t));
    try {
      const error = (await rejection(client.send(rawMessage(e(), marker("sub-utf8"), [u.address]), { from: `sender@${e().domain}`, to: [u.address] }))) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error.code).toBe("smtputf8-required");
      expect(t.client().some((l) => l.startsWith("MAIL FROM"))).toBe(false);
      await sendAndVerify(client, "after-utf8");
    } finally {
      await client.quit();
    }
  });
});
