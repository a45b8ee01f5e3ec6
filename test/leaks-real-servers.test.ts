/**
 * Credential leaks against the REAL servers (issue 6, "Credentials"): Dovecot IMAP (STARTTLS,
 * implicit TLS, cleartext), Dovecot POP3 (the same) and Postfix SMTP (Dovecot SASL). Every
 * mechanism each server offers (plus the IMAP LOGIN command and POP3 USER/PASS; this Dovecot's
 * greeting carries no APOP timestamp, so APOP never sends anything and is left out) runs
 * with the right secret (STARTTLS and cleartext) and with a wrong one (implicit TLS), transcripts
 * on; then failures are forced in the middle of AUTH: an abort as the AUTH line goes out, an
 * abort at the first server challenge, an abort while the secret is being read, an
 * AbortSignal.timeout that fires while the secret is read, and (IMAP, POP3) the auth deadline
 * passing while the secret is read.
 *
 * Everything produced (transcript entries, errors with their cause chain, JSON and util.inspect
 * at unlimited depth, connections, results) is searched for the users' passwords and tokens and
 * for the wrong ones (the hardening secrets), raw, hex and base64 at every alignment: zero hits.
 *
 * Servers: test/servers via the vitest global setup; unavailable servers skip the suite locally
 * and fail it under CI=true (realServers()).
 */
import { readFileSync } from "node:fs";
import type { CredentialsInput } from "@saslkit/core";
import { ImapClient, ImapError, type ImapConnectOptions } from "@saslkit/imap";
import { Pop3Client, Pop3Error, type Pop3ConnectOptions } from "@saslkit/pop3";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import type { TranscriptEntry } from "@saslkit/transport";
import { describe, expect, it } from "vitest";
import { Evidence, formsOf } from "./hardening/leak-sweep.js";
import { PASSWORD, TOKEN } from "./hardening/secrets.js";
import { allProviders, realServers, type ServerEnv } from "./support/smtp-real.js";

const env = realServers();

/** The wrong secrets tried: the hardening secrets, which no server knows. */
const WRONG_PASSWORD = PASSWORD;
const WRONG_TOKEN = TOKEN;

type Proto = "imap" | "pop3" | "smtp";
type Mode = "starttls" | "implicit" | "none";

/** SASL mechanisms that carry a secret; every server must offer all of them. */
const SECRET_MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2"] as const;
/** Protocol-level password logins, per protocol. */
const COMMAND_LOGINS: Record<Proto, readonly string[]> = { imap: ["LOGIN-COMMAND"], pop3: ["USER"], smtp: [] };

interface Attempt {
  readonly proto: Proto;
  /** A SASL mechanism name, or LOGIN-COMMAND (IMAP), USER or APOP (POP3). */
  readonly mech: string;
  readonly mode: Mode;
  readonly auth: CredentialsInput;
  readonly evidence: Evidence;
  readonly signal?: AbortSignal;
  /** Extra transcript observer (runs after the evidence sink). */
  readonly observe?: (entry: TranscriptEntry) => void;
  readonly authTimeoutMs?: number;
  readonly clientCert?: boolean;
}

/** What one attempt ended with: the mechanism that authenticated, or the error. */
type Outcome = { ok: true; mechanism: string | undefined } | { ok: false; error: unknown };

describe.skipIf(!env)("credential leaks against the real Dovecot and Postfix", () => {
  const e = env as ServerEnv;
  // The describe body also runs when the suite is skipped: nothing here may touch `e` eagerly.
  const ca = env ? readFileSync(env.caFile, "utf8") : "";
  const userOf = (proto: Proto) => (proto === "pop3" ? e.users.bob : e.users.alice);
  const tokenOf = (proto: Proto) => (proto === "pop3" ? e.oauth.tokens.bob : e.oauth.tokens.alice);
  const FORMS = env ? formsOf([env.users.alice.password, env.users.bob.password, env.oauth.tokens.alice, env.oauth.tokens.bob, WRONG_PASSWORD, WRONG_TOKEN]) : [];
  const rightAuth = (proto: Proto): CredentialsInput => ({ username: userOf(proto).user, password: userOf(proto).password, token: tokenOf(proto) });
  const wrongAuth = (proto: Proto): CredentialsInput => ({ username: userOf(proto).user, password: WRONG_PASSWORD, token: WRONG_TOKEN });
  const offered = (proto: Proto): readonly string[] => (proto === "smtp" ? e.mechanisms.postfix : e.mechanisms.dovecot);

  function tlsOptions(clientCert = false) {
    return { ca, servername: e.tlsServerName, ...(clientCert ? { cert: readFileSync(e.clientCert.cert), key: readFileSync(e.clientCert.key) } : {}) };
  }

  /** Runs one connection + authentication (+ a little real work on success), recording everything. */
  async function attempt(a: Attempt): Promise<Outcome> {
    const { proto, mech, mode, evidence } = a;
    const transcript = (entry: TranscriptEntry) => {
      evidence.sink(entry);
      a.observe?.(entry);
    };
    const sasl = !["LOGIN-COMMAND", "USER", "APOP"].includes(mech);
    const policy = { ...(sasl ? { force: mech } : {}), cleartext: "allow" as const };
    const common = {
      host: e.host,
      tls: mode,
      tlsOptions: tlsOptions(a.clientCert),
      auth: a.auth,
      mechanisms: [...allProviders],
      policy,
      transcript,
      ...(a.signal ? { signal: a.signal } : {}),
    };
    try {
      if (proto === "imap") {
        const options: ImapConnectOptions = {
          ...common,
          port: mode === "implicit" ? e.imap.tlsPort : e.imap.port,
          login: mech === "LOGIN-COMMAND" ? "only" : "never",
          timeouts: { connect: a.authTimeoutMs ?? 15_000, reply: 5000 },
        };
        const conn = await ImapClient.connect(options);
        evidence.add("imap connection", conn);
        evidence.add("imap NOOP", await conn.command("NOOP"));
        await conn.logout();
        evidence.add("imap connection after logout", conn);
        return { ok: true, mechanism: conn.mechanism ?? (conn.login === "LOGIN" ? "LOGIN-COMMAND" : undefined) };
      }
      if (proto === "pop3") {
        const options: Pop3ConnectOptions = {
          ...common,
          port: mode === "implicit" ? e.pop3.tlsPort : e.pop3.port,
          login: mech === "USER" ? "user" : mech === "APOP" ? "apop" : "never",
          timeouts: { connect: a.authTimeoutMs ?? 15_000, reply: 5000 },
        };
        const conn = await Pop3Client.connect(options);
        evidence.add("pop3 connection", conn);
        evidence.add("pop3 STAT", await conn.command("STAT"));
        await conn.quit();
        evidence.add("pop3 connection after quit", conn);
        return { ok: true, mechanism: conn.mechanism ?? conn.login };
      }
      const options: SmtpClientOptions = {
        ...common,
        port: mode === "implicit" ? e.smtp.tlsPort : e.smtp.port,
        ehloName: "client.saslkit.test",
        timeouts: { connect: 15000, reply: 5000, data: 5000 },
      };
      const client = await SmtpClient.connect(options);
      evidence.add("smtp client", client);
      evidence.add("smtp negotiation", client.negotiation);
      const to = e.users.alice.address;
      evidence.add("smtp send", await client.send(`From: sender@${e.domain}\r\nTo: ${to}\r\nSubject: saslkit leak sweep ${mech}\r\n\r\nleak sweep\r\n`, { from: `sender@${e.domain}`, to: [to] }));
      await client.quit();
      evidence.add("smtp client after quit", client);
      return { ok: true, mechanism: client.authenticatedWith };
    } catch (error) {
      evidence.add(`${proto} ${mech} error`, error);
      return { ok: false, error };
    }
  }

  const errorClass = { imap: ImapError, pop3: Pop3Error, smtp: SmtpError } as const;

  it("the sweep finds a planted secret: in an error's nested reply, a base64 AUTH line, hex, and deep inside an object", () => {
    const password = e.users.alice.password;
    const cases: Array<(ev: Evidence) => void> = [
      (ev) => ev.add("error", new ImapError("authenticate", "authentication-failed", "authentication failed.", { cause: Object.assign(new Error("inner"), { reply: { text: `echo ${password}` } }) })),
      (ev) => ev.sink({ direction: "C", text: `AUTH PLAIN ${Buffer.from(`\0alice\0${password}`).toString("base64")}` } as TranscriptEntry),
      (ev) => ev.text("cli", Buffer.from(e.oauth.tokens.alice).toString("hex").toUpperCase()),
      (ev) => ev.add("deep", { a: { b: { c: { d: { e: { f: { g: { h: { i: { j: `user=alice\x01auth=Bearer ${WRONG_TOKEN}\x01\x01` } } } } } } } } } }),
    ];
    for (const plant of cases) {
      const ev = new Evidence(FORMS);
      plant(ev);
      expect(ev.hits().hits).not.toEqual([]);
    }
    const clean = new Evidence(FORMS);
    clean.text("nothing secret", "AUTH PLAIN ****");
    clean.assertClean();
  });

  it("every server offers every secret-bearing mechanism this sweep runs", () => {
    for (const proto of ["imap", "pop3", "smtp"] as const) expect(offered(proto)).toEqual(expect.arrayContaining([...SECRET_MECHANISMS]));
  });

  for (const proto of ["imap", "pop3", "smtp"] as const) {
    const logins = [...SECRET_MECHANISMS, ...COMMAND_LOGINS[proto]];
    it.each(logins)(`${proto} %s: right secret (STARTTLS, cleartext), wrong secret (implicit TLS): nothing holds a secret`, async (mech) => {
      const evidence = new Evidence(FORMS);
      for (const mode of ["starttls", "none"] as const) {
        const good = await attempt({ proto, mech, mode, auth: rightAuth(proto), evidence });
        expect(good).toEqual({ ok: true, mechanism: mech === "LOGIN-COMMAND" ? "LOGIN-COMMAND" : mech });
      }
      const bad = await attempt({ proto, mech, mode: "implicit", auth: wrongAuth(proto), evidence });
      expect(bad.ok).toBe(false);
      const error = (bad as { error: unknown }).error;
      expect(error).toBeInstanceOf(errorClass[proto]);
      expect((error as { code: string }).code).toBe("authentication-failed");
      evidence.assertClean();
    });
  }

  it.each(["imap", "pop3"] as const)("%s EXTERNAL with every secret at hand sends none of them", async (proto) => {
    const evidence = new Evidence(FORMS);
    const auth = { ...rightAuth(proto), username: e.clientCert.user };
    expect(await attempt({ proto, mech: "EXTERNAL", mode: "implicit", auth, evidence, clientCert: true })).toEqual({ ok: true, mechanism: "EXTERNAL" });
    evidence.assertClean();
  });

  const AUTH_LINE = /^(?:\S+ )?(?:AUTH|AUTHENTICATE|LOGIN|USER|PASS|APOP)\b/i;


  for (const proto of ["imap", "pop3", "smtp"] as const) {
    it(`${proto}: failures forced mid-AUTH (aborts at the AUTH line, at the first server line, while the secret is read; timeouts) leave no secret`, async () => {
      const evidence = new Evidence(FORMS);
      const outcomes: Record<string, string> = {};
      const expected: Record<string, unknown> = {};
      const run = async (label: string, want: unknown, a: Omit<Attempt, "proto" | "evidence">) => {
        const o = await attempt({ ...a, proto, evidence });
        outcomes[label] = o.ok ? `ok ${o.mechanism}` : String((o.error as { code?: string }).code ?? (o.error as Error).name);
        expected[label] = want;
      };
      const mechs = ["PLAIN", "LOGIN", "SCRAM-SHA-256", "OAUTHBEARER", "XOAUTH2", ...COMMAND_LOGINS[proto]];
      const u = userOf(proto);
      for (const mech of mechs) {
        // 1. Abort as the first AUTH/LOGIN/USER line is written.
        {
          const ac = new AbortController();
          await run(`${mech} abort at the AUTH line`, "aborted", {
            mech,
            mode: "starttls",
            auth: rightAuth(proto),
            signal: ac.signal,
            observe: (en) => en.direction === "C" && AUTH_LINE.test(en.text) && ac.abort(),
          });
        }
        // 2. Abort at the first server line after it: a challenge, or already the (failed) outcome.
        {
          const ac = new AbortController();
          let armed = false;
          await run(`${mech} abort at the first server line`, expect.stringMatching(/^(aborted|authentication-failed)$/), {
            mech,
            mode: "starttls",
            auth: wrongAuth(proto),
            signal: ac.signal,
            observe: (en) => {
              if (en.direction === "C" && AUTH_LINE.test(en.text)) armed = true;
              else if (armed && en.direction === "S") ac.abort();
            },
          });
        }
        // 3. Abort while the secret is being read; the secret is handed over right after.
        {
          const ac = new AbortController();
          const secretNow = (s: string) => () => {
            ac.abort(new Error("aborted by the leak sweep while the secret was read"));
            return s;
          };
          await run(`${mech} abort while the secret is read`, "aborted", {
            mech,
            mode: "implicit",
            auth: { username: u.user, password: secretNow(u.password), tokenProvider: secretNow(tokenOf(proto)) },
            signal: ac.signal,
          });
        }
        // 4. An AbortSignal.timeout, armed when the secret is asked for, fires before it is handed over.
        {
          const holder = new AbortController();
          const slow = (s: string) => async () => {
            const timer = AbortSignal.timeout(20);
            await new Promise((r) => timer.addEventListener("abort", r, { once: true }));
            holder.abort(timer.reason);
            return s;
          };
          await run(`${mech} AbortSignal.timeout while the secret is read`, "aborted", {
            mech,
            mode: "starttls",
            auth: { username: u.user, password: slow(WRONG_PASSWORD), tokenProvider: slow(WRONG_TOKEN) },
            signal: holder.signal,
          });
        }
        // 5. IMAP/POP3: the whole-connect deadline (600 ms, authentication included) passes while
        //    the secret is read (900 ms). SMTP's case 4 is its timeout.
        if (proto !== "smtp") {
          const late = (s: string) => () => new Promise<string>((r) => setTimeout(() => r(s), 900));
          await run(`${mech} auth deadline passes while the secret is read`, "timeout", {
            mech,
            mode: "starttls",
            auth: { username: u.user, password: late(u.password), tokenProvider: late(tokenOf(proto)) },
            authTimeoutMs: 600,
          });
        }
      }
      expect(outcomes).toEqual(expected);
      evidence.text("outcomes", JSON.stringify(outcomes));
      evidence.assertClean();
    });
  }
});
