/**
 * @saslkit/pop3 against a real Dovecot (test/servers): every mechanism Dovecot offers, with and
 * without TLS, then real work (STAT and UIDL on a maildrop holding a message the test delivered).
 *
 * Delivery: the test hands a message to Postfix on 127.0.0.1:15025 over a raw SMTP dialogue
 * (mynetworks lets loopback deliver to the virtual domain; Postfix passes it to Dovecot's LMTP),
 * then waits, with a deadline, until POP3 TOP shows its unique Subject. Writing a Maildir file
 * directly would need the mail user's file permissions, which a non-root test run lacks.
 *
 * Servers: read from SASLKIT_SERVER_ENV (the vitest global setup). When they are unavailable the
 * tests are skipped, except under CI=true, where they fail.
 */
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import type { CredentialsInput, NegotiationPolicy } from "@saslkit/core";
import { Pop3Client, Pop3Error, type Pop3ConnectOptions } from "@saslkit/pop3";
import { Deadline, LineSocket, type TranscriptEntry } from "@saslkit/transport";
import { beforeAll, describe, expect, it } from "vitest";
import { allProviders, deliverViaPostfix, realServers, type ServerEnv } from "./support/real-servers.js";

const env = realServers();
const providers = allProviders;

/** Delivers one message to `to` through Postfix. */
const deliver = (e: ServerEnv, to: string, subject: string) => deliverViaPostfix(e, to, subject, "Hello from the saslkit POP3 test.");

describe.skipIf(!env)("POP3 against Dovecot", () => {
  const e = env as ServerEnv;
  const bob = () => e.users.bob!;
  const ca = () => readFileSync(e.caFile, "utf8");
  const subject = `saslkit-pop3-${randomUUID()}`;

  const options = (mode: "starttls" | "implicit" | "none", auth: CredentialsInput, policy: NegotiationPolicy, extra: Partial<Pop3ConnectOptions> = {}): Pop3ConnectOptions => ({
    host: e.host,
    port: mode === "implicit" ? e.pop3.tlsPort : e.pop3.port,
    tls: mode,
    tlsOptions: { ca: ca(), servername: e.tlsServerName },
    auth,
    mechanisms: providers,
    policy,
    timeouts: { connect: 30000, reply: 10000 },
    ...extra,
  });

  const statCount = async (conn: { command(c: string): Promise<{ ok: boolean; text: string }> }) => {
    const stat = await conn.command("STAT");
    expect(stat.ok).toBe(true);
    return Number(stat.text.split(" ")[0]);
  };

  beforeAll(async () => {
    await deliver(e, bob().address, subject);
    const deadline = Deadline.in(20000);
    for (;;) {
      const conn = await Pop3Client.connect(options("implicit", { username: bob().user, password: bob().password }, { force: "PLAIN" }));
      try {
        const count = await statCount(conn);
        const uidl = await conn.command("UIDL", { multiline: true });
        expect(uidl.lines).toHaveLength(count);
        for (let i = count; i >= 1; i--) {
          const top = await conn.command(`TOP ${i} 0`, { multiline: true });
          if (top.lines?.some((l) => l === `Subject: ${subject}`)) return;
        }
      } finally {
        await conn.quit();
      }
      if (deadline.expired()) throw new Error("The delivered message did not arrive in bob's maildrop within 20 s.");
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60000);

  const passwordCases: Array<[string, "starttls" | "implicit" | "none"]> = [];
  for (const mech of ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]) {
    for (const mode of ["starttls", "implicit", "none"] as const) passwordCases.push([mech, mode]);
  }

  it.each(passwordCases)("%s over %s, then STAT", async (mech, mode) => {
    const conn = await Pop3Client.connect(
      options(mode, { username: bob().user, password: bob().password }, { force: mech, cleartext: "allow" }, {}),
    );
    try {
      expect(conn.mechanism).toBe(mech);
      expect(conn.secure).toBe(mode !== "none");
      expect(await statCount(conn)).toBeGreaterThanOrEqual(1);
    } finally {
      await conn.quit();
    }
  });

  // Issue 4: SCRAM with non-ASCII credentials, and with a password only SASLprep makes match.
  it.each([["SCRAM-SHA-1"], ["SCRAM-SHA-256"]])("%s with a non-ASCII user and password (UTF-8), then STAT", async (mech) => {
    const u = e.users["ümlaut"]!;
    const conn = await Pop3Client.connect(options("starttls", { username: u.user, password: u.password }, { force: mech }));
    try {
      expect(conn.mechanism).toBe(mech);
      expect((await conn.command("STAT")).ok).toBe(true);
    } finally {
      await conn.quit();
    }
  });

  it.each([["SCRAM-SHA-1", "\u2168"], ["SCRAM-SHA-256", "\u2168"], ["SCRAM-SHA-256", "I\u00ADX"]])("%s applies SASLprep: password %j matches the stored IX", async (mech, password) => {
    const conn = await Pop3Client.connect(options("starttls", { username: e.users["prep"]!.user, password }, { force: mech }));
    try {
      expect(conn.mechanism).toBe(mech);
    } finally {
      await conn.quit();
    }
  });

  it("PLAIN does no SASLprep, so the same unprepared password is refused (the control case)", async () => {
    const error = await Pop3Client.connect(options("starttls", { username: e.users["prep"]!.user, password: "\u2168" }, { force: "PLAIN" })).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: "authentication-failed" });
  });

  it.each([["OAUTHBEARER"], ["XOAUTH2"]])("%s with a valid token over STLS and over cleartext", async (mech) => {
    for (const mode of ["starttls", "none"] as const) {
      const conn = await Pop3Client.connect(
        options(mode, { username: "bob", token: e.oauth.tokens.bob! }, { force: mech, cleartext: "allow" }, {}),
      );
      expect(conn.mechanism).toBe(mech);
      expect(await statCount(conn)).toBeGreaterThanOrEqual(1);
      await conn.quit();
    }
  });

  it("ANONYMOUS without credentials", async () => {
    const conn = await Pop3Client.connect(options("starttls", {}, { force: "ANONYMOUS" }));
    expect(conn.mechanism).toBe("ANONYMOUS");
    expect(await statCount(conn)).toBeGreaterThanOrEqual(0);
    await conn.quit();
  });

  it("EXTERNAL with the client certificate over implicit TLS", async () => {
    const conn = await Pop3Client.connect(
      options("implicit", {}, { force: "EXTERNAL" }, { tlsOptions: { ca: ca(), servername: e.tlsServerName, cert: readFileSync(e.clientCert.cert), key: readFileSync(e.clientCert.key) } }),
    );
    expect(conn.mechanism).toBe("EXTERNAL");
    expect(await statCount(conn)).toBeGreaterThanOrEqual(0);
    await conn.quit();
  });

  it("USER/PASS when asked, and a wrong password as authentication-failed without retries", async () => {
    const conn = await Pop3Client.connect(options("starttls", { username: bob().user, password: bob().password }, {}, { login: "user" }));
    expect(conn.mechanism).toBeUndefined();
    expect(conn.login).toBe("USER");
    expect(await statCount(conn)).toBeGreaterThanOrEqual(1);
    await conn.quit();
    const lines: TranscriptEntry[] = [];
    const error = await Pop3Client.connect({ ...options("starttls", { username: bob().user, password: "wrong-Secret-9" }, {}), transcript: (l) => lines.push(l) }).then(
      () => undefined,
      (err: unknown) => err as Pop3Error,
    );
    expect(error).toBeInstanceOf(Pop3Error);
    expect(error?.code).toBe("authentication-failed");
    expect(lines.filter((l) => l.direction === "C" && l.text.startsWith("AUTH "))).toHaveLength(1);
    expect(lines.map((l) => l.text).join("\n")).not.toContain("wrong-Secret-9");
  });

  it("masks the password and its base64 in the transcript", async () => {
    const lines: TranscriptEntry[] = [];
    const conn = await Pop3Client.connect({ ...options("starttls", { username: bob().user, password: bob().password }, { force: "PLAIN" }), transcript: (l) => lines.push(l) });
    await conn.quit();
    const all = lines.map((l) => l.text).join("\n");
    expect(all).not.toContain(bob().password);
    expect(all).not.toContain(Buffer.from(`\0${bob().user}\0${bob().password}`).toString("base64"));
    expect(all).toContain("AUTH PLAIN ****");
  });

  it("refuses PLAIN over cleartext under policy never before sending anything, on both listeners", async () => {
    for (const host of [e.host, e.strictHost]) {
      const lines: TranscriptEntry[] = [];
      const error = await Pop3Client.connect({
        ...options("none", { username: bob().user, password: bob().password }, { force: "PLAIN", cleartext: "never" }),
        host,
        transcript: (l) => lines.push(l),
      }).then(
        () => undefined,
        (err: unknown) => err as Pop3Error,
      );
      expect(error?.code).toBe("no-mechanism");
      expect(lines.some((l) => l.direction === "C" && /^(AUTH|USER|PASS|APOP)\b/.test(l.text))).toBe(false);
    }
  });

  it("the strict listener offers no PLAIN before STLS, and PLAIN works after it", async () => {
    const plainConn = await Pop3Client.connect({ ...options("none", {}, {}), host: e.strictHost, auth: undefined });
    expect(plainConn.capabilities.mechanisms).not.toContain("PLAIN");
    await plainConn.quit();
    const conn = await Pop3Client.connect({ ...options("starttls", { username: bob().user, password: bob().password }, { force: "PLAIN" }), host: e.strictHost });
    expect(conn.mechanism).toBe("PLAIN");
    await conn.quit();
  });
});
