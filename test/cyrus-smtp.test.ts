/**
 * @saslkit/smtp against Postfix with Cyrus SASL (test/servers: `cyrusSmtp`, a smtpd listener with
 * `smtpd_sasl_type = cyrus` and a sasldb), an implementation independent of Dovecot's: every
 * mechanism Cyrus offers (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5, SCRAM-SHA-1, SCRAM-SHA-256), forced
 * one at a time, for an ASCII and a non-ASCII user, then a message sent to prove the session
 * works. DIGEST-MD5 must take the realm Cyrus offers, since sasldb holds users as user@realm.
 *
 * Servers come from the vitest global setup; unavailable servers skip the suite locally and fail
 * it under CI=true.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { CredentialsInput, NegotiationPolicy } from "@saslkit/core";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import { describe, expect, it } from "vitest";
import { allProvidersWith, realServers, type ServerEnv } from "./support/real-servers.js";
import { recordDigestMd5 } from "./support/digest-md5-recorder.js";
import { Transcript, assertNoSecrets } from "./support/smtp-real.js";

const env = realServers();
const digest = recordDigestMd5();
const providers = allProvidersWith(digest.provider);

describe.skipIf(!env)("SMTP against Postfix with Cyrus SASL", () => {
  const e = env as ServerEnv;
  const ca = () => readFileSync(e.caFile, "utf8");

  const options = (auth: CredentialsInput | undefined, policy: NegotiationPolicy, transcript?: Transcript, tls: "starttls" | "none" = "starttls"): SmtpClientOptions => ({
    host: e.host,
    port: e.cyrusSmtp.port,
    tls,
    tlsOptions: { ca: ca(), servername: e.tlsServerName },
    ...(auth ? { auth } : {}),
    mechanisms: providers,
    policy: { cleartext: "allow", ...policy },
    ...(transcript ? { transcript: transcript.sink } : {}),
  });

  it("advertises the mechanisms env.json lists for it", async () => {
    const client = await SmtpClient.connect(options(undefined, {}));
    try {
      expect([...(client.capabilities.auth ?? [])].sort()).toEqual([...e.mechanisms.cyrus].sort());
    } finally {
      await client.quit();
    }
  });

  const cases: [string, string][] = [];
  for (const mechanism of ["DIGEST-MD5", "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]) {
    for (const user of ["alice", "ümlaut"]) cases.push([mechanism, user]);
  }

  it.each(cases)("%s as %s authenticates and sends a message", async (mechanism, user) => {
    const u = e.users[user]!;
    const t = new Transcript();
    const client = await SmtpClient.connect(options({ username: u.user, password: u.password }, { force: mechanism }, t));
    try {
      expect(client.authenticatedWith).toBe(mechanism);
      const id = `<cyrus-${randomUUID()}@${e.domain}>`;
      const bob = e.users.bob!.address;
      const raw = `From: alice@${e.domain}\r\nTo: ${bob}\r\nSubject: cyrus ${mechanism}\r\nMessage-ID: ${id}\r\n\r\nvia Cyrus SASL\r\n`;
      const result = await client.send(raw, { from: `alice@${e.domain}`, to: [bob] });
      expect(result.accepted).toEqual([bob]);
    } finally {
      await client.quit();
    }
    assertNoSecrets(t, [u.password]);
    if (mechanism === "DIGEST-MD5") {
      const response = digest.lastResponse();
      expect(response?.get("realm")).toBe(e.cyrusSmtp.realm);
      expect(response?.get("digest-uri")).toBe(`smtp/${e.host}`);
      expect(response?.get("username")).toBe(u.user);
      expect(response?.get("charset")).toBe("utf-8");
    }
  });

  it("DIGEST-MD5 in cleartext (no password crosses the wire)", async () => {
    const alice = e.users.alice!;
    const client = await SmtpClient.connect(options({ username: alice.user, password: alice.password }, { force: "DIGEST-MD5", cleartext: "never" }, undefined, "none"));
    try {
      expect(client.authenticatedWith).toBe("DIGEST-MD5");
    } finally {
      await client.quit();
    }
  });

  it.each([["DIGEST-MD5"], ["CRAM-MD5"], ["SCRAM-SHA-256"]])("%s with a wrong password is refused", async (mechanism) => {
    const alice = e.users.alice!;
    const error = await SmtpClient.connect(options({ username: alice.user, password: "not-the-password" }, { force: mechanism })).then(
      async (c) => {
        await c.quit();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).toBe("authentication-failed");
    expect((error as SmtpError).reply?.code).toBe(535);
  });

  it("negotiation picks SCRAM-SHA-256 first, and DIGEST-MD5 over CRAM-MD5 when SCRAM is excluded", async () => {
    const alice = e.users.alice!;
    const auth = { username: alice.user, password: alice.password };
    const best = await SmtpClient.connect(options(auth, {}));
    try {
      expect(best.authenticatedWith).toBe("SCRAM-SHA-256");
    } finally {
      await best.quit();
    }
    const noScram = await SmtpClient.connect(options(auth, { exclude: ["SCRAM-SHA-256", "SCRAM-SHA-1"] }));
    try {
      expect(noScram.authenticatedWith).toBe("DIGEST-MD5");
    } finally {
      await noScram.quit();
    }
  });
});
