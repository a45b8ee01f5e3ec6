/**
 * DIGEST-MD5 (@saslkit/mech-digest-md5) through the three adapters' public API against Dovecot
 * 2.3 (test/servers): SMTP to Dovecot submission and to Postfix (which asks Dovecot's auth
 * socket), IMAP and POP3; an ASCII and a non-ASCII user; a wrong password; and the strict
 * listener, which hides the cleartext mechanisms before STARTTLS but still offers DIGEST-MD5.
 * Each run checks the digest-uri the client built (`smtp/`, `imap/`, `pop/` + host) and does
 * real work afterwards (send, SELECT, STAT).
 *
 * Servers come from the vitest global setup; unavailable servers skip the suite locally and fail
 * it under CI=true.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CredentialsInput, NegotiationPolicy } from "@saslkit/core";
import { ImapClient, ImapError } from "@saslkit/imap";
import { Pop3Client, Pop3Error } from "@saslkit/pop3";
import { SmtpClient, SmtpError } from "@saslkit/smtp";
import { describe, expect, it } from "vitest";
import { recordDigestMd5 } from "./support/digest-md5-recorder.js";
import { allProvidersWith, realServers, type ServerEnv } from "./support/real-servers.js";

const env = realServers();
const digest = recordDigestMd5();

type Protocol = "submission" | "postfix" | "imap" | "pop3";
const SERVICE: Record<Protocol, string> = { submission: "smtp", postfix: "smtp", imap: "imap", pop3: "pop" };

describe.skipIf(!env)("DIGEST-MD5 against Dovecot", () => {
  const e = env as ServerEnv;
  const ca = () => readFileSync(e.caFile, "utf8");

  // No digestMd5.service option: each adapter hands the mechanism its service name.
  const common = (auth: CredentialsInput, policy: NegotiationPolicy) => ({
    tlsOptions: { ca: ca(), servername: e.tlsServerName },
    auth,
    mechanisms: allProvidersWith(digest.provider),
    policy: { force: "DIGEST-MD5", ...policy },
  });

  /** Connects, authenticates with DIGEST-MD5, does one real command, closes; resolves the mechanism used. */
  async function run(protocol: Protocol, auth: CredentialsInput, opts: { host?: string; tls?: "starttls" | "none"; policy?: NegotiationPolicy } = {}): Promise<string | undefined> {
    const host = opts.host ?? e.host;
    const tls = opts.tls ?? "starttls";
    const base = common(auth, opts.policy ?? {});
    switch (protocol) {
      case "submission":
      case "postfix": {
        const port = protocol === "submission" ? e.submission.port : e.smtp.port;
        const client = await SmtpClient.connect({ ...base, host, port, tls });
        try {
          const to = e.users.bob!.address;
          const id = `<digest-${randomUUID()}@${e.domain}>`;
          const raw = `From: alice@${e.domain}\r\nTo: ${to}\r\nSubject: DIGEST-MD5 via ${protocol}\r\nMessage-ID: ${id}\r\n\r\nhello\r\n`;
          expect((await client.send(raw, { from: `alice@${e.domain}`, to: [to] })).accepted).toEqual([to]);
          return client.authenticatedWith;
        } finally {
          await client.quit();
        }
      }
      case "imap": {
        const conn = await ImapClient.connect({ ...base, host, port: e.imap.port, tls });
        try {
          expect((await conn.command("SELECT INBOX")).tagged.status).toBe("OK");
          return conn.mechanism;
        } finally {
          await conn.logout();
        }
      }
      case "pop3": {
        const conn = await Pop3Client.connect({ ...base, host, port: e.pop3.port, tls });
        try {
          expect((await conn.command("STAT")).ok).toBe(true);
          return conn.mechanism;
        } finally {
          await conn.quit();
        }
      }
    }
  }

  const cases: [Protocol, string][] = [];
  for (const protocol of ["submission", "postfix", "imap", "pop3"] as const) for (const user of ["alice", "ümlaut"]) cases.push([protocol, user]);

  it.each(cases)("%s as %s", async (protocol, user) => {
    const u = e.users[user]!;
    expect(await run(protocol, { username: u.user, password: u.password })).toBe("DIGEST-MD5");
    const response = digest.lastResponse();
    expect(response?.get("digest-uri")).toBe(`${SERVICE[protocol]}/${e.host}`);
    expect(response?.get("username")).toBe(u.user);
    expect(response?.get("realm")).toBe(""); // Dovecot offers realm="" when auth_realms is empty
    expect(response?.get("charset")).toBe("utf-8");
    expect(response?.get("nc")).toBe("00000001");
  });

  it.each([["submission"], ["postfix"], ["imap"], ["pop3"]] as const)("%s refuses a wrong password as authentication-failed", async (protocol) => {
    const error = await run(protocol, { username: "alice", password: "not-alice-Secret" }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const classes = { submission: SmtpError, postfix: SmtpError, imap: ImapError, pop3: Pop3Error };
    expect(error).toBeInstanceOf(classes[protocol]);
    expect((error as { code: string }).code).toBe("authentication-failed");
    expect(String((error as Error).message)).not.toContain("not-alice-Secret");
  });

  it.each([["imap"], ["pop3"], ["submission"]] as const)("%s on the strict listener: offered and usable before STARTTLS under cleartext=never", async (protocol) => {
    const alice = e.users.alice!;
    const mechanism = await run(protocol, { username: alice.user, password: alice.password }, { host: e.strictHost, tls: "none", policy: { cleartext: "never" } });
    expect(mechanism).toBe("DIGEST-MD5");
    expect(digest.lastResponse()?.get("digest-uri")).toBe(`${SERVICE[protocol]}/${e.strictHost}`);
  });
});
