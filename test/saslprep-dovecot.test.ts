/**
 * The SASLprep opt-in (issue 13 item 7, docs/decisions/0009) against a real Dovecot whose user
 * `prep` has the stored password "IX". "\u2168" (ROMAN NUMERAL NINE) and "I\u00ADX" (with a soft
 * hyphen) both SASLprep to "IX".
 *
 * - As given (the default), PLAIN, LOGIN and CRAM-MD5 send them unprepared, and Dovecot refuses:
 *   this is why the opt-in stays off (a server that stores unprepared passwords would refuse users
 *   whose password preparation changes).
 * - With `prepare: "saslprep"`, the same passwords log in.
 *
 * Adapters pass the caller's `prepare` option into negotiation; until every adapter exposes it,
 * the test sets it on the mechanism context directly, which is exactly what negotiation does.
 */
import { readFileSync } from "node:fs";
import type { CredentialsInput, MechanismProvider } from "@saslkit/core";
import { ImapClient, type ImapConnectOptions } from "@saslkit/imap";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { login } from "@saslkit/mech-login";
import { plain } from "@saslkit/mech-plain";
import { describe, expect, it } from "vitest";
import { realServers, type ServerEnv } from "./support/real-servers.js";

const env = realServers();

/** The provider with the caller's `prepare: "saslprep"` in its context. */
const prepared = (p: MechanismProvider): MechanismProvider => ({ ...p, createClient: (context) => p.createClient({ ...context, prepare: "saslprep" }) });

describe.skipIf(!env)("SASLprep opt-in against Dovecot (stored password IX)", () => {
  const e = env as ServerEnv;
  const options = (provider: MechanismProvider, auth: CredentialsInput): ImapConnectOptions => ({
    host: e.host,
    port: e.imap.port,
    tls: "starttls",
    tlsOptions: { ca: readFileSync(e.caFile, "utf8"), servername: e.tlsServerName },
    auth,
    mechanisms: [provider],
    policy: { force: provider.name },
    login: "never",
    timeouts: { connect: 30000, reply: 10000 },
  });

  const cases = [plain, login, cramMd5].flatMap((p) => ["\u2168", "I\u00ADX"].map((password) => [p.name, p, password] as const));

  it.each(cases)("%s sends %j as given by default, and Dovecot refuses it", async (_name, provider, password) => {
    const error = await ImapClient.connect(options(provider, { username: e.users["prep"]!.user, password })).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: "authentication-failed" });
  });

  it.each(cases)("%s with prepare: \"saslprep\" sends %j as IX, and logs in", async (_name, provider, password) => {
    const conn = await ImapClient.connect(options(prepared(provider), { username: e.users["prep"]!.user, password }));
    try {
      expect(conn.mechanism).toBe(provider.name);
    } finally {
      await conn.logout();
    }
  });
});
