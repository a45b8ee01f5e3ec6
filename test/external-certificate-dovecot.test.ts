/**
 * EXTERNAL chosen by negotiation when the caller gave a client certificate (issue 13 item 2,
 * docs/decisions/0005), against a real Dovecot that verifies client certificates and offers
 * EXTERNAL: no `force`, no `order`. With a password also given, the password mechanisms keep
 * their order.
 */
import { readFileSync } from "node:fs";
import type { CredentialsInput } from "@saslkit/core";
import { ImapClient, type ImapConnectOptions } from "@saslkit/imap";
import { describe, expect, it } from "vitest";
import { allProviders, realServers, type ServerEnv } from "./support/real-servers.js";

const env = realServers();

describe.skipIf(!env)("EXTERNAL with a client certificate, unasked (Dovecot IMAP)", () => {
  const e = env as ServerEnv;
  const options = (mode: "implicit" | "starttls", auth: CredentialsInput, withCert = true): ImapConnectOptions => ({
    host: e.host,
    port: mode === "implicit" ? e.imap.tlsPort : e.imap.port,
    tls: mode,
    tlsOptions: {
      ca: readFileSync(e.caFile, "utf8"),
      servername: e.tlsServerName,
      ...(withCert ? { cert: readFileSync(e.clientCert.cert), key: readFileSync(e.clientCert.key) } : {}),
    },
    auth,
    mechanisms: allProviders,
    login: "never",
    timeouts: { connect: 30000, reply: 10000 },
  });

  it.each(["implicit", "starttls"] as const)("a certificate and no secret over %s TLS: EXTERNAL, logged in as the certificate's user", async (mode) => {
    const conn = await ImapClient.connect(options(mode, {}));
    try {
      expect(conn.mechanism).toBe("EXTERNAL");
      expect(conn.negotiation?.chosen).toBe("EXTERNAL");
      expect((await conn.command("SELECT INBOX")).tagged.status).toBe("OK");
    } finally {
      await conn.logout();
    }
  });

  it("a certificate and a password: the password mechanisms keep their order (SCRAM-SHA-256), EXTERNAL stays out", async () => {
    const alice = e.users["alice"]!;
    const conn = await ImapClient.connect(options("implicit", { username: alice.user, password: alice.password }));
    try {
      expect(conn.mechanism).toBe("SCRAM-SHA-256");
      expect(conn.negotiation?.refused.find((r) => r.mechanism === "EXTERNAL")?.reason).toBe("explicit-only");
    } finally {
      await conn.logout();
    }
  });

  it("no certificate and no credentials: not EXTERNAL (ANONYMOUS is what is left)", async () => {
    const conn = await ImapClient.connect(options("implicit", {}, false));
    try {
      expect(conn.mechanism).toBe("ANONYMOUS");
      expect(conn.negotiation?.refused.find((r) => r.mechanism === "EXTERNAL")?.explanation).toContain("when a client certificate is given");
    } finally {
      await conn.logout();
    }
  });
});
