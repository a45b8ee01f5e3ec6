/**
 * The SMTP checks that hold for every real server we test against (Postfix smtpd and Dovecot
 * submission), written once. `defineSmtpSuite(env, target)` registers them in the calling
 * `describe` and returns the helpers the calling file uses for its server-only tests. A target
 * states how its server differs (ports, offered mechanisms, SMTPUTF8, relaying, pipelining mode);
 * anything that only one server does stays in that server's test file.
 *
 * `env` is undefined when the servers are unavailable (the describe is skipped); it is read only
 * inside test bodies.
 */
import { Readable } from "node:stream";
import MailComposer from "nodemailer/lib/mail-composer";
import { NoMechanismError, type CredentialsInput, type NegotiationPolicy } from "@saslkit/core";
import { SmtpClient, SmtpError, sendMail, type PipeliningMode } from "@saslkit/smtp";
import { expect, it } from "vitest";
import {
  Transcript,
  assertDeliveredExactly,
  assertNoSecrets,
  clientOptions,
  headerNames,
  marker,
  rawMessage,
  rejection,
  waitForDelivered,
  type ClientOptionsInput,
  type ServerEnv,
} from "./smtp-real.js";

type ServerUser = ServerEnv["users"]["alice"];

/** How one real SMTP server differs from the others, as far as the shared checks care. */
export interface SmtpTarget {
  /** Key into `env.mechanisms` and `env.strictMechanismsBeforeTls`. */
  readonly key: "postfix" | "submission";
  /** The STARTTLS (and cleartext) port. */
  readonly port: (env: ServerEnv) => number;
  /** The implicit-TLS port, when the server has one. */
  readonly implicitTlsPort?: (env: ServerEnv) => number;
  /** Prefix of message markers, so deliveries from the two suites are told apart in logs. */
  readonly tag: string;
  /** EXTERNAL offered after STARTTLS (then negotiation runs with the client certificate). */
  readonly offersExternal: boolean;
  readonly offersAnonymous: boolean;
  readonly smtpUtf8: boolean;
  /** Received fields a delivered copy carries at least (one per hop that saw the message). */
  readonly receivedHops: number;
  /** The user whose OAuth token the OAUTHBEARER and XOAUTH2 tests use. */
  readonly oauthUser: "alice" | "bob";
  /** The default pipelining mode on this server, and the mechanism the pipelining test forces. */
  readonly pipelining: { readonly mode: Exclude<PipeliningMode, "off">; readonly mechanism: string };
}

/** Helpers bound to one server, for the checks that stay in the server's own file. */
export interface SmtpSuiteContext {
  readonly env: () => ServerEnv;
  readonly alice: () => ServerUser;
  readonly bob: () => ServerUser;
  readonly aliceCreds: () => CredentialsInput;
  /** Client options for the target's STARTTLS port. */
  readonly starttls: (auth: CredentialsInput | undefined, policy: NegotiationPolicy, t?: Transcript, more?: Partial<ClientOptionsInput>) => ReturnType<typeof clientOptions>;
  /** Sends one raw message to `to` on `client`; checks the result and the delivered copy byte for byte. Returns the prepended trace header block. */
  readonly sendAndVerify: (client: SmtpClient, tag: string, to?: ServerUser) => Promise<string>;
}

const WRONG_PASSWORD = "wrong-Secret-9";

/** Registers the shared checks for `target` in the current describe block. */
export function defineSmtpSuite(env: ServerEnv | undefined, target: SmtpTarget): SmtpSuiteContext {
  const e = (): ServerEnv => env as ServerEnv;
  const alice = () => e().users.alice!;
  const bob = () => e().users.bob!;
  const aliceCreds = (): CredentialsInput => ({ username: alice().user, password: alice().password });
  const tag = (name: string) => `${target.tag}${name}`;
  const starttls: SmtpSuiteContext["starttls"] = (auth, policy, t, more = {}) =>
    clientOptions(e(), { port: target.port(e()), tls: "starttls", ...(auth ? { auth } : {}), policy, ...(t ? { transcript: t } : {}), ...more });
  const cleartext = (policy: NegotiationPolicy, t?: Transcript, host?: string) =>
    clientOptions(e(), { port: target.port(e()), tls: "none", auth: aliceCreds(), policy, ...(t ? { transcript: t } : {}), ...(host ? { host } : {}) });

  const sendAndVerify: SmtpSuiteContext["sendAndVerify"] = async (client, name, to = alice()) => {
    const id = marker(tag(name));
    const message = rawMessage(e(), id, [to.address]);
    const result = await client.send(message, { from: `sender@${e().domain}`, to: [to.address] });
    expect(result.accepted).toEqual([to.address]);
    expect(result.rejected).toEqual([]);
    expect(result.reply.code).toBe(250);
    expect(result.queueId).toMatch(/^[A-Za-z0-9]+$/);
    expect(result.bytes).toBe(Buffer.byteLength(message));
    const prefix = assertDeliveredExactly(await waitForDelivered(to.user, id, e()), message);
    expect(prefix).toMatch(/^Return-Path: <sender@saslkit\.test>\r\n/);
    // Each hop adds a Received field; the one that took our connection names our EHLO.
    expect(prefix.match(/^Received: /gm)?.length ?? 0).toBeGreaterThanOrEqual(target.receivedHops);
    expect(prefix).toContain("Received: from client.saslkit.test");
    return prefix;
  };

  it("offers what env.json says after STARTTLS; the capabilities used are those of the second EHLO", async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(undefined, {}, t));
    try {
      expect(client.secure).toBe(true);
      // RFC 3207: the client said EHLO twice, STARTTLS in between, and kept only the second answer.
      expect(t.client().map((l) => l.split(" ")[0])).toEqual(["EHLO", "STARTTLS", "EHLO"]);
      expect([...client.capabilities.auth].sort()).toEqual([...e().mechanisms[target.key]].sort());
      expect(client.capabilities.auth.includes("EXTERNAL")).toBe(target.offersExternal);
      expect(client.capabilities.auth.includes("ANONYMOUS")).toBe(target.offersAnonymous);
      expect(client.capabilities.startTls).toBe(false); // STARTTLS is no longer offered once it is on
      expect(client.capabilities.pipelining).toBe(true);
      expect(client.capabilities.eightBitMime).toBe(true);
      expect(client.capabilities.smtpUtf8).toBe(target.smtpUtf8);
      expect(client.capabilities.size).toBe(e().messageSizeLimit);
    } finally {
      await client.quit();
    }
  });

  for (const mech of ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]) {
    it(`${mech} (forced) over STARTTLS sends a message delivered byte for byte`, async () => {
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
  }

  for (const mech of ["OAUTHBEARER", "XOAUTH2"]) {
    it(`${mech} (forced) with ${target.oauthUser}'s env token sends a message`, async () => {
      const t = new Transcript();
      const token = e().oauth.tokens[target.oauthUser];
      const client = await SmtpClient.connect(starttls({ username: e().users[target.oauthUser]!.user, token }, { force: mech }, t));
      try {
        expect(client.authenticatedWith).toBe(mech);
        assertNoSecrets(t, [token]);
        await sendAndVerify(client, mech.toLowerCase());
      } finally {
        await client.quit();
      }
    });
  }

  const notOffered = [
    ...(target.offersExternal ? [] : [{ mech: "EXTERNAL", auth: {}, clientCert: true }]),
    ...(target.offersAnonymous ? [] : [{ mech: "ANONYMOUS", auth: { trace: "x@y.test" }, clientCert: false }]),
  ];
  for (const { mech, auth, clientCert } of notOffered) {
    it(`${mech} is not offered: forcing it fails before any AUTH line`, async () => {
      const t = new Transcript();
      const error = await rejection(SmtpClient.connect(starttls(auth, { force: mech }, t, { clientCert })));
      expect(error).toBeInstanceOf(SmtpError);
      expect((error as SmtpError).code).toBe("no-mechanism");
      expect((error as SmtpError).cause).toBeInstanceOf(NoMechanismError);
      expect(t.authLines()).toEqual([]);
    });
  }

  const explicitOnly = target.offersExternal ? ", never EXTERNAL (explicit only) even with a certificate" : "";
  it(`negotiation without force picks SCRAM-SHA-256, the strongest offered, and reports it${explicitOnly}`, async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(starttls(aliceCreds(), {}, t, { clientCert: target.offersExternal }));
    try {
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.chosen).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.candidates[0]).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.offered).toEqual(e().mechanisms[target.key]);
      if (target.offersExternal) expect(client.negotiation?.refused.find((r) => r.mechanism === "EXTERNAL")?.reason).toBe("explicit-only");
      expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
      assertNoSecrets(t, [alice().password]);
    } finally {
      await client.quit();
    }
  });

  const tlsModes = target.implicitTlsPort ? "STARTTLS and implicit" : "STARTTLS";
  it(`without the test CA the certificate check fails with a typed TLS error (${tlsModes})`, async () => {
    const listeners = [[target.port(e()), "starttls"] as const, ...(target.implicitTlsPort ? [[target.implicitTlsPort(e()), "implicit"] as const] : [])];
    for (const [port, tls] of listeners) {
      const t = new Transcript();
      const error = await rejection(SmtpClient.connect(clientOptions(e(), { port, tls, auth: aliceCreds(), noCa: true, transcript: t })));
      expect(error).toBeInstanceOf(SmtpError);
      // Implicit TLS fails while connecting; STARTTLS in its own phase.
      expect((error as SmtpError).phase).toBe(tls === "implicit" ? "connect" : "starttls");
      expect((error as SmtpError).code).toBe("tls-failed");
      expect(t.authLines()).toEqual([]);
    }
  });

  it("a wrong password gives the typed auth error with the server's 535 reply and no fallback to a weaker mechanism", async () => {
    const t = new Transcript();
    const error = await rejection(SmtpClient.connect(starttls({ username: alice().user, password: WRONG_PASSWORD }, {}, t)));
    expect(error).toBeInstanceOf(SmtpError);
    const err = error as SmtpError;
    expect(err.phase).toBe("authenticate");
    expect(err.code).toBe("authentication-failed");
    expect(err.reply?.code).toBe(535);
    expect(err.reply?.enhanced).toBe("5.7.8");
    expect(err.saslError?.mechanism).toBe("SCRAM-SHA-256");
    expect(t.authLines()).toEqual(["AUTH SCRAM-SHA-256 ****"]);
    assertNoSecrets(t, [WRONG_PASSWORD], [err.message, String(err.command)]);
  });

  for (const mech of ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"]) {
    it(`non-ASCII credentials (ümlaut) with ${mech}`, async () => {
      const u = e().users["ümlaut"]!;
      const t = new Transcript();
      const client = await SmtpClient.connect(starttls({ username: u.user, password: u.password }, { force: mech }, t));
      try {
        expect(client.authenticatedWith).toBe(mech);
        assertNoSecrets(t, [u.password]);
      } finally {
        await client.quit();
      }
    });
  }

  it("SASLprep: user prep with password \\u2168 (ROMAN NUMERAL NINE) authenticates with SCRAM-SHA-256 and SCRAM-SHA-1 and sends a message", async () => {
    const u = e().users.prep!;
    expect(u.saslprepPasswords).toContain("\u2168");
    for (const mech of ["SCRAM-SHA-256", "SCRAM-SHA-1"]) {
      const t = new Transcript();
      const client = await SmtpClient.connect(starttls({ username: u.user, password: "\u2168" }, { force: mech }, t));
      try {
        expect(client.authenticatedWith).toBe(mech);
        assertNoSecrets(t, ["\u2168"]);
        await sendAndVerify(client, `prep-${mech.toLowerCase()}`, u);
      } finally {
        await client.quit();
      }
    }
  });

  it('cleartext to 127.0.0.1 with tls "none" and the default policy: PLAIN is allowed (loopback) and mail goes through', async () => {
    const t = new Transcript();
    const client = await SmtpClient.connect(cleartext({ force: "PLAIN" }, t));
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

  for (const mech of ["PLAIN", "LOGIN"]) {
    it(`cleartext policy "never" refuses ${mech} before sending AUTH`, async () => {
      const t = new Transcript();
      const error = await rejection(SmtpClient.connect(cleartext({ force: mech, cleartext: "never" }, t)));
      expect(error).toBeInstanceOf(SmtpError);
      const err = error as SmtpError;
      expect(err.code).toBe("no-mechanism");
      expect(err.cause).toBeInstanceOf(NoMechanismError);
      expect((err.cause as NoMechanismError).refused.find((r) => r.mechanism === mech)?.reason).toBe("cleartext-password");
      expect(t.authLines()).toEqual([]);
      expect(t.client().some((l) => /^AUTH\b/i.test(l))).toBe(false);
    });
  }

  it('cleartext policy "never" without force still authenticates with a mechanism that reveals no password (SCRAM-SHA-256)', async () => {
    const client = await SmtpClient.connect(cleartext({ cleartext: "never" }));
    try {
      expect(client.secure).toBe(false);
      expect(client.authenticatedWith).toBe("SCRAM-SHA-256");
      expect(client.negotiation?.refused.map((r) => r.mechanism)).toEqual(expect.arrayContaining(["PLAIN", "LOGIN"]));
    } finally {
      await client.quit();
    }
  });

  it("the strict listener (127.0.0.2) offers no password mechanism before STARTTLS and the client sends no AUTH there (forced PLAIN, and negotiated where nothing is offered); after STARTTLS it works", async () => {
    const offered = e().strictMechanismsBeforeTls[target.key];
    // Postfix offers no AUTH at all there; Dovecot offers mechanisms that reveal no password, which negotiation may use.
    const policies: NegotiationPolicy[] = [{ force: "PLAIN", cleartext: "allow" }, ...(offered.length === 0 ? [{ cleartext: "allow" } as const] : [])];
    for (const policy of policies) {
      const t = new Transcript();
      const error = (await rejection(SmtpClient.connect(cleartext(policy, t, e().strictHost)))) as SmtpError;
      expect(error.code).toBe("no-mechanism");
      expect((error.cause as NoMechanismError).offered).toEqual(offered);
      expect(t.authLines()).toEqual([]);
    }
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }, undefined, { host: e().strictHost }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
  });

  it(`several messages on one connection are pipelined ("${target.pipelining.mode}") and each is delivered byte for byte`, async () => {
    const t = new Transcript();
    // DATA pipelining is what this checks: BDAT (CHUNKING, offered by both) has its own tests in test/smtp-chunking-real.test.ts.
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: target.pipelining.mechanism }, t, { extra: { chunking: false } }));
    const ids = [marker(tag("pipe1")), marker(tag("pipe2")), marker(tag("pipe3"))];
    const messages = ids.map((id) => rawMessage(e(), id, [alice().address], `Message ${id}.\r\n.leading dot line\r\n`));
    try {
      expect(client.pipelining).toBe(target.pipelining.mode);
      // Dovecot 2.3.19 (Debian 12) submission panics when the next message's MAIL/RCPT/DATA arrive
      // right behind the previous end-of-data dot, as RFC 2920 allows
      // ("smtp_server_transaction_finished: assertion failed: (conn->state.pending_rcpt_cmds == 0)").
      // The client recognises Dovecot by its greeting and pipelines within each transaction only
      // (see packages/smtp/README.md).
      expect(client.quirks.includes("dovecot-submission")).toBe(target.pipelining.mode === "transaction");
      const results = await Promise.all(messages.map((m) => client.send(m, { from: `sender@${e().domain}`, to: [alice().address] })));
      expect(results.map((r) => r.reply.code)).toEqual([250, 250, 250]);
      expect(new Set(results.map((r) => r.queueId)).size).toBe(3);
      // RFC 2920: MAIL, RCPT and DATA of a message go out in one write.
      const lines = t.entries.map((x) => `${x.direction}: ${x.text}`);
      const mails = lines.flatMap((l, i) => (l.startsWith("C: MAIL FROM") ? [i] : []));
      expect(mails).toHaveLength(3);
      expect(lines.slice(mails[0]! + 1, mails[0]! + 3)).toEqual([`C: RCPT TO:<${alice().address}>`, "C: DATA"]);
      if (target.pipelining.mode === "full") {
        // The next message's MAIL is written before the previous message's final 250 arrives.
        const queued = lines.flatMap((l, i) => (/^S: 250 .*queued as/.test(l) ? [i] : []));
        expect(queued).toHaveLength(3);
        expect(mails[1]).toBeLessThan(queued[0]!);
        expect(mails[2]).toBeLessThan(queued[1]!);
      }
      for (const [i, id] of ids.entries()) {
        // The leading dot was stuffed on the wire and unstuffed by the server.
        assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), messages[i]!);
      }
    } finally {
      await client.quit();
    }
  });

  it("multiple recipients with one refused at RCPT: per-recipient result, the others get the message", async () => {
    const client = await SmtpClient.connect(starttls(aliceCreds(), { force: "PLAIN" }));
    const id = marker(tag("multi-rcpt"));
    const nobody = `nobody-${id.slice(-8)}@${e().domain}`;
    const to = [alice().address, nobody, bob().address];
    const message = rawMessage(e(), id, to);
    try {
      const result = await client.send(message, { from: `sender@${e().domain}`, to });
      expect(result.accepted).toEqual([alice().address, bob().address]);
      expect(result.rejected.map((r) => r.address)).toEqual([nobody]);
      // Dovecot submission passes on Postfix's refusal.
      expect(result.rejected[0]!.reply.code).toBe(550);
      expect(result.rejected[0]!.reply.enhanced).toBe("5.1.1");
      for (const user of [alice().user, bob().user]) assertDeliveredExactly(await waitForDelivered(user, id, e()), message);
    } finally {
      await client.quit();
    }
  });

  // Chunk boundaries inside CRLF, just before a leading dot, and inside the last line.
  const streams = [
    {
      name: "cut inside CRLF and before a leading dot",
      mechanism: "SCRAM-SHA-256",
      body: "line one\r\n.starts with a dot\r\n..two dots\r\n\r\nlast line\r\n",
      cuts: (m: string) => [1, m.indexOf("\r\n") + 1, m.indexOf("\r\n.") + 2, m.length - 3],
    },
    { name: "cut after 7 bytes and 5 before the end", mechanism: "PLAIN", body: ".\r\n..\r\nend\r\n", cuts: (m: string) => [7, m.length - 5] },
  ];
  for (const s of streams) {
    it(`a message from a Readable stream (${s.name}, ${s.mechanism}) is delivered byte for byte`, async () => {
      const id = marker(tag("stream"));
      const message = rawMessage(e(), id, [alice().address], s.body);
      const bytes = Buffer.from(message); // ASCII: string offsets are byte offsets
      const chunks: Buffer[] = [];
      let at = 0;
      for (const cut of s.cuts(message)) {
        chunks.push(bytes.subarray(at, cut));
        at = cut;
      }
      chunks.push(bytes.subarray(at));
      const result = await sendMail(starttls(aliceCreds(), { force: s.mechanism }), Readable.from(chunks), { from: `sender@${e().domain}`, to: [alice().address] });
      expect(result.accepted).toEqual([alice().address]);
      assertDeliveredExactly(await waitForDelivered(alice().user, id, e()), bytes);
    });
  }

  it("an object message composed by the MIME builder: Bcc gets it, no Bcc header is delivered, bytes match the builder's", async () => {
    const id = marker(tag("composed"));
    const mail = {
      from: `Sender <sender@${e().domain}>`,
      to: alice().address,
      bcc: bob().address,
      subject: `Composed ${id} – grüße`,
      text: `Hello ${id}.\nSecond line with ümlauts.\n`,
      messageId: `<${id}@${e().domain}>`,
      date: new Date("2026-01-01T00:00:00Z"),
    };
    const result = await sendMail(starttls(aliceCreds(), { force: "PLAIN" }), mail);
    expect(result.envelope.to).toEqual([alice().address, bob().address]);
    expect(result.accepted).toEqual([alice().address, bob().address]);
    // The same options through the builder give the same bytes (fixed Message-ID and Date, no multipart boundary).
    // MailComposer leaves the text part's bare LFs alone; the client sends every line end as CRLF.
    const built = await new MailComposer(mail).compile().build();
    const expected = Buffer.from(built.toString("latin1").replace(/\r?\n/g, "\r\n"), "latin1");
    expect(built.includes("\r\n")).toBe(true);
    expect(expected.toString("latin1")).not.toMatch(/^bcc:/im);
    for (const user of [alice().user, bob().user]) {
      const delivered = await waitForDelivered(user, id, e());
      expect(headerNames(delivered)).not.toContain("bcc");
      expect(delivered.toString("utf8")).not.toContain(`Bcc:`);
      assertDeliveredExactly(delivered, expected);
    }
  });

  return { env: e, alice, bob, aliceCreds, starttls, sendAndVerify };
}
