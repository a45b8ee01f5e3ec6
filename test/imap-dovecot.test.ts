/**
 * @saslkit/imap against a real Dovecot (test/servers): every mechanism Dovecot offers, with and
 * without TLS, then real work (SELECT INBOX on a mailbox holding a message the test delivered).
 *
 * Delivery: the test hands a message to Postfix on 127.0.0.1:15025 over a raw SMTP dialogue
 * (mynetworks lets loopback deliver to the virtual domain; Postfix passes it to Dovecot's LMTP),
 * then waits, with a deadline, until IMAP SEARCH finds its unique Subject. Writing a Maildir file
 * directly would need the mail user's file permissions, which a non-root test run lacks.
 *
 * Servers: read from SASLKIT_SERVER_ENV (the vitest global setup). When they are unavailable the
 * tests are skipped, except under CI=true, where they fail.
 */
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import type { CredentialsInput, NegotiationPolicy } from "@saslkit/core";
import { ImapClient, ImapError, type ImapConnectOptions } from "@saslkit/imap";
import { Deadline, LineSocket, type TranscriptEntry } from "@saslkit/transport";
import { beforeAll, describe, expect, it } from "vitest";
import { allProviders, deliverViaPostfix, realServers, type ServerEnv } from "./support/real-servers.js";

const env = realServers();
const providers = allProviders;

/** Delivers one message to `to` through Postfix. */
const deliver = (e: ServerEnv, to: string, subject: string) => deliverViaPostfix(e, to, subject, "Hello from the saslkit IMAP test.");

describe.skipIf(!env)("IMAP against Dovecot", () => {
  const e = env as ServerEnv;
  const alice = () => e.users.alice!;
  const ca = () => readFileSync(e.caFile, "utf8");
  const subject = `saslkit-imap-${randomUUID()}`;

  const options = (mode: "starttls" | "implicit" | "none", auth: CredentialsInput, policy: NegotiationPolicy, extra: Partial<ImapConnectOptions> = {}): ImapConnectOptions => ({
    host: e.host,
    port: mode === "implicit" ? e.imap.tlsPort : e.imap.port,
    tls: mode,
    tlsOptions: { ca: ca(), servername: e.tlsServerName },
    auth,
    mechanisms: providers,
    policy,
    timeouts: { connect: 30000, reply: 10000 },
    ...extra,
  });

  beforeAll(async () => {
    await deliver(e, alice().address, subject);
    const conn = await ImapClient.connect(options("implicit", { username: alice().user, password: alice().password }, { force: "PLAIN" }));
    try {
      const deadline = Deadline.in(20000);
      for (;;) {
        await conn.command("SELECT INBOX");
        const search = await conn.command(`SEARCH HEADER Subject "${subject}"`);
        const hits = search.untagged.find((u) => u.type === "SEARCH")?.values ?? [];
        if (hits.length > 0) break;
        if (deadline.expired()) throw new Error("The delivered message did not arrive in alice's INBOX within 20 s.");
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await conn.logout();
    }
  }, 60000);

  const passwordCases: Array<[string, "starttls" | "implicit" | "none"]> = [];
  for (const mech of ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]) {
    for (const mode of ["starttls", "implicit", "none"] as const) passwordCases.push([mech, mode]);
  }

  it.each(passwordCases)("%s over %s, then SELECT INBOX", async (mech, mode) => {
    const conn = await ImapClient.connect(
      options(mode, { username: alice().user, password: alice().password }, { force: mech, cleartext: "allow" }, { login: "never", ...({}) }),
    );
    try {
      expect(conn.mechanism).toBe(mech);
      expect(conn.secure).toBe(mode !== "none");
      expect(conn.capabilities.has("IMAP4REV1")).toBe(true);
      const select = await conn.command("SELECT INBOX");
      expect(select.tagged.status).toBe("OK");
      expect(select.untagged.find((u) => u.type === "EXISTS")?.number).toBeGreaterThanOrEqual(1);
    } finally {
      await conn.logout();
    }
  });

  // Issue 4: SCRAM with non-ASCII credentials, and with a password only SASLprep makes match.
  it.each([["SCRAM-SHA-1"], ["SCRAM-SHA-256"]])("%s with a non-ASCII user and password (UTF-8)", async (mech) => {
    const u = e.users["ümlaut"]!;
    const conn = await ImapClient.connect(options("starttls", { username: u.user, password: u.password }, { force: mech }, { login: "never" }));
    try {
      expect(conn.mechanism).toBe(mech);
      expect((await conn.command("SELECT INBOX")).tagged.status).toBe("OK");
    } finally {
      await conn.logout();
    }
  });

  it.each([["SCRAM-SHA-1", "\u2168"], ["SCRAM-SHA-256", "\u2168"], ["SCRAM-SHA-256", "I\u00ADX"]])("%s applies SASLprep: password %j matches the stored IX", async (mech, password) => {
    const conn = await ImapClient.connect(options("starttls", { username: e.users["prep"]!.user, password }, { force: mech }, { login: "never" }));
    try {
      expect(conn.mechanism).toBe(mech);
    } finally {
      await conn.logout();
    }
  });

  it("PLAIN does no SASLprep, so the same unprepared password is refused (the control case)", async () => {
    const error = await ImapClient.connect(options("starttls", { username: e.users["prep"]!.user, password: "\u2168" }, { force: "PLAIN" }, { login: "never" })).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: "authentication-failed" });
  });

  it.each([["OAUTHBEARER"], ["XOAUTH2"]])("%s with a valid token over STARTTLS and over cleartext", async (mech) => {
    for (const mode of ["starttls", "none"] as const) {
      const conn = await ImapClient.connect(
        options(mode, { username: "alice", token: e.oauth.tokens.alice! }, { force: mech, cleartext: "allow" }, {}),
      );
      expect(conn.mechanism).toBe(mech);
      expect((await conn.command("SELECT INBOX")).untagged.find((u) => u.type === "EXISTS")?.number).toBeGreaterThanOrEqual(1);
      await conn.logout();
    }
  });

  it("OAUTHBEARER with a refused token fails as authentication-failed", async () => {
    const error = await ImapClient.connect(options("starttls", { username: "alice", token: "tok-invalid" }, { force: "OAUTHBEARER" })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ImapError);
    expect((error as ImapError).code).toBe("authentication-failed");
  });

  it("ANONYMOUS without credentials", async () => {
    const conn = await ImapClient.connect(options("starttls", {}, { force: "ANONYMOUS" }));
    expect(conn.mechanism).toBe("ANONYMOUS");
    expect((await conn.command("SELECT INBOX")).tagged.status).toBe("OK");
    await conn.logout();
  });

  it("EXTERNAL with the client certificate over implicit TLS", async () => {
    const conn = await ImapClient.connect(
      options("implicit", {}, { force: "EXTERNAL" }, { tlsOptions: { ca: ca(), servername: e.tlsServerName, cert: readFileSync(e.clientCert.cert), key: readFileSync(e.clientCert.key) } }),
    );
    expect(conn.mechanism).toBe("EXTERNAL");
    expect((await conn.command("SELECT INBOX")).untagged.find((u) => u.type === "EXISTS")?.number).toBeGreaterThanOrEqual(1);
    await conn.logout();
  });

  it("negotiates the strongest mechanism by default (SCRAM-SHA-256) and falls back to nothing weaker on a wrong password", async () => {
    const conn = await ImapClient.connect(options("starttls", { username: alice().user, password: alice().password }, {}));
    expect(conn.mechanism).toBe("SCRAM-SHA-256");
    await conn.logout();
    const lines: TranscriptEntry[] = [];
    const error = await ImapClient.connect({ ...options("starttls", { username: alice().user, password: "wrong-Secret-9" }, {}), transcript: (l) => lines.push(l) }).then(
      () => undefined,
      (err: unknown) => err as ImapError,
    );
    expect(error?.code).toBe("authentication-failed");
    expect(error?.reply?.code).toBe("AUTHENTICATIONFAILED");
    expect(lines.filter((l) => l.direction === "C" && / (AUTHENTICATE|LOGIN) /.test(l.text))).toHaveLength(1);
  });

  it("the LOGIN command, explicitly", async () => {
    const conn = await ImapClient.connect(options("starttls", { username: alice().user, password: alice().password }, {}, { login: "only" }));
    expect(conn.mechanism).toBeUndefined();
    expect(conn.login).toBe("LOGIN");
    expect((await conn.command("SELECT INBOX")).tagged.status).toBe("OK");
    await conn.logout();
  });

  it("masks the password and its base64 in the transcript", async () => {
    const lines: TranscriptEntry[] = [];
    const conn = await ImapClient.connect({ ...options("starttls", { username: alice().user, password: alice().password }, { force: "PLAIN" }), transcript: (l) => lines.push(l) });
    await conn.logout();
    const all = lines.map((l) => l.text).join("\n");
    expect(all).not.toContain(alice().password);
    expect(all).not.toContain(Buffer.from(`\0${alice().user}\0${alice().password}`).toString("base64"));
    expect(all).toContain("AUTHENTICATE PLAIN ****");
  });

  it("refuses PLAIN over cleartext under policy never before sending anything, on both listeners", async () => {
    for (const host of [e.host, e.strictHost]) {
      const lines: TranscriptEntry[] = [];
      const error = await ImapClient.connect({
        ...options("none", { username: alice().user, password: alice().password }, { force: "PLAIN", cleartext: "never" }),
        host,
        transcript: (l) => lines.push(l),
      }).then(
        () => undefined,
        (err: unknown) => err as ImapError,
      );
      expect(error?.code).toBe("no-mechanism");
      expect(lines.some((l) => l.direction === "C" && / (AUTHENTICATE|LOGIN) /.test(l.text))).toBe(false);
    }
  });

  it("the strict listener refuses cleartext login itself (LOGINDISABLED, no PLAIN before TLS), and works after STARTTLS", async () => {
    const plainConn = await ImapClient.connect({ ...options("none", {}, {}), host: e.strictHost, auth: undefined });
    expect(plainConn.capabilities.loginDisabled).toBe(true);
    expect(plainConn.capabilities.mechanisms).not.toContain("PLAIN");
    await plainConn.logout();
    const conn = await ImapClient.connect({ ...options("starttls", { username: alice().user, password: alice().password }, { force: "PLAIN" }), host: e.strictHost });
    expect(conn.mechanism).toBe("PLAIN");
    await conn.logout();
  });
});
