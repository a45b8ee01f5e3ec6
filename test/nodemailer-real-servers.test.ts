/**
 * nodemailer as the sender and @saslkit/nodemailer as its authentication, against the real
 * Postfix (Dovecot SASL behind it) and Dovecot submission of test/servers. Over STARTTLS made
 * certain with requireTLS, negotiation must choose SCRAM-SHA-256 from everything the servers
 * offer (nodemailer alone would pick PLAIN), nodemailer's own log must show the AUTH command it
 * sent and the server's own log the method of the session that queued the message (Postfix's
 * sasl_method; Dovecot's login line, found through the queue id it relayed under), the message
 * must reach the Maildir byte for byte, a wrong password must end in a clear
 * EAUTH error, and no line nodemailer or saslkit logs may carry the password.
 */
import { readFileSync } from "node:fs";
import net from "node:net";
import { saslkit, SaslkitAuthError, type NegotiationRecord } from "@saslkit/nodemailer";
import nodemailer from "nodemailer";
import { describe, expect, it } from "vitest";
import { allProviders, assertDeliveredExactly, marker, rawMessage, realServers, waitForDelivered, type ServerEnv } from "./support/smtp-real.js";

const env = realServers();

/** A bunyan-style logger that keeps every line, formatted the way nodemailer's console logger would. */
function captureLogger() {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (entry: Record<string, unknown>, message: string, ...args: unknown[]) => {
      let i = 0;
      lines.push(`${level} [${String(entry["component"] ?? "")}] ${String(message).replace(/%s/g, () => String(args[i++]))} ${JSON.stringify(entry)}`);
    };
  return { lines, logger: { trace: at("trace"), debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), fatal: at("fatal") } };
}

function assertNoSecret(texts: readonly string[], user: string, secret: string): void {
  const forms = [secret, Buffer.from(secret).toString("base64").replace(/=+$/, ""), Buffer.from(`\0${user}\0${secret}`).toString("base64").replace(/=+$/, "")];
  for (const text of texts) for (const form of forms) expect(text, "a log line or error message reveals the password").not.toContain(form);
}

interface Target {
  readonly name: string;
  readonly port: (e: ServerEnv) => number;
  /** The server's own greeting, to be sure which server answered. */
  readonly greeting: RegExp;
  /** The SASL method the server's own log records for the session that queued `queueId`. */
  readonly loggedMethod: (e: ServerEnv, queueId: string) => string | undefined;
}

const logLines = (file: string) => readFileSync(file, "utf8").split("\n");

const targets: readonly Target[] = [
  {
    name: "Postfix (Dovecot SASL)",
    port: (e) => e.smtp.port,
    greeting: /ESMTP .*Postfix/,
    // smtpd: "<queue id>: client=..., sasl_method=SCRAM-SHA-256, sasl_username=alice"
    loggedMethod: (e, id) => logLines(e.logs.postfix).map((l) => new RegExp(`${id}: client=.*sasl_method=([A-Z0-9-]+)`).exec(l)?.[1]).find(Boolean),
  },
  {
    name: "Dovecot submission",
    port: (e) => e.submission.port,
    greeting: /Dovecot/,
    // "submission(alice)<pid><session>: ... relayed ... queued as <queue id>", then the login line of that session.
    // A session id is base64 and may start with "+" or "/" (one run in 32): match any characters.
    loggedMethod: (e, id) => {
      const lines = logLines(e.logs.dovecot);
      const session = lines.map((l) => (l.includes(`queued as ${id}`) ? /<([^<>]+)>: Info: Successfully relayed/.exec(l)?.[1] : undefined)).find(Boolean);
      return session ? lines.map((l) => (l.includes(`session=<${session}>`) ? /Login: .*method=([A-Z0-9-]+)/.exec(l)?.[1] : undefined)).find(Boolean) : undefined;
    },
  },
];

/** Waits (bounded) for the server's log to record the method of the session that queued `queueId`. */
async function serverLoggedMethod(target: Target, e: ServerEnv, queueId: string): Promise<string | undefined> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const method = target.loggedMethod(e, queueId);
    if (method) return method;
  }
  return undefined;
}

describe.skipIf(!env).each(targets)("nodemailer with saslkit against $name", (target) => {
  const e = env!;
  const alice = e.users["alice"]!;
  const transportFor = (pass: string, logger: object, onNegotiation?: (r: NegotiationRecord) => void) =>
    nodemailer.createTransport(
      saslkit(
        {
          host: e.host,
          port: target.port(e),
          requireTLS: true,
          tls: { ca: readFileSync(e.caFile, "utf8"), servername: e.tlsServerName },
          name: "client.saslkit.test",
          auth: { user: alice.user, pass },
          logger,
          debug: true,
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 20_000,
        },
        { mechanisms: [...allProviders], ...(onNegotiation ? { onNegotiation } : {}) },
      ),
    );

  it("negotiates SCRAM-SHA-256 over STARTTLS, delivers the message byte for byte, and logs no secret", async () => {
    const log = captureLogger();
    const records: NegotiationRecord[] = [];
    const transport = transportFor(alice.password, log.logger, (r) => records.push(r));
    const id = marker("nodemailer");
    const raw = rawMessage(e, id, [alice.address], "Sent by nodemailer, authenticated by saslkit.\r\n");
    let response: string;
    try {
      const info = await transport.sendMail({ envelope: { from: `sender@${e.domain}`, to: [alice.address] }, raw });
      expect(info.accepted).toEqual([alice.address]);
      response = info.response;
    } finally {
      transport.close();
    }
    // The server's own log says which mechanism the session that queued this message used.
    const queueId = /queued as ([0-9A-F]+)/.exec(response)?.[1];
    expect(queueId, response).toBeDefined();
    expect(await serverLoggedMethod(target, e, queueId!)).toBe("SCRAM-SHA-256");
    // The server offered PLAIN first and SCRAM-SHA-256 among others; saslkit chose by strength.
    expect(records).toHaveLength(1);
    expect(records[0]!.offered).toEqual(expect.arrayContaining(["PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"]));
    expect(records[0]!.chosen).toBe("SCRAM-SHA-256");
    expect(records[0]!.attempts.map((a) => a.mechanism)).toEqual(["SCRAM-SHA-256"]);
    // nodemailer's own transaction log: the right server, TLS, then the AUTH command it wrote (masked).
    expect(log.lines.some((l) => target.greeting.test(l))).toBe(true);
    expect(log.lines.some((l) => l.includes("Connection upgraded with STARTTLS"))).toBe(true);
    const auth = log.lines.filter((l) => /\[smtp-connection\] AUTH /.test(l));
    expect(auth).toHaveLength(1);
    expect(auth[0]).toContain("AUTH SCRAM-SHA-256 /* secret */");
    expect(log.lines.some((l) => /^debug \[smtp-connection\] 235 /.test(l))).toBe(true);
    expect(log.lines.some((l) => l.includes("saslkit: authenticated with SCRAM-SHA-256"))).toBe(true);
    assertDeliveredExactly(await waitForDelivered(alice.user, id, e), raw);
    assertNoSecret(log.lines, alice.user, alice.password);
  });

  it("a wrong password is a clear EAUTH error carrying the server's 535, and no log line shows it", async () => {
    const wrong = "not-Alice-password-7";
    const log = captureLogger();
    const records: NegotiationRecord[] = [];
    const transport = transportFor(wrong, log.logger, (r) => records.push(r));
    let error: unknown;
    try {
      await transport.sendMail({ envelope: { from: `sender@${e.domain}`, to: [alice.address] }, raw: rawMessage(e, marker("nodemailer-wrong"), [alice.address]) });
    } catch (caught) {
      error = caught;
    } finally {
      transport.close();
    }
    expect(error).toBeInstanceOf(SaslkitAuthError);
    const failure = error as SaslkitAuthError;
    expect(failure.code).toBe("EAUTH");
    expect(failure.responseCode).toBe(535);
    expect(failure.message).toMatch(/^saslkit: SCRAM-SHA-256 authentication failed.*: 535 5\.7\.8 /);
    // 535 is an authentication failure, not a mechanism problem: no fallback to PLAIN with the same password.
    expect(records[0]!.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["SCRAM-SHA-256", "authentication-failed"]]);
    assertNoSecret([...log.lines, failure.message, JSON.stringify(failure)], alice.user, wrong);
  });
});

describe.skipIf(!env)("nodemailer with saslkit against Postfix over implicit TLS", () => {
  it("secure: true makes TLS certain, so a forced PLAIN runs and the message arrives", async () => {
    const e = env!;
    const alice = e.users["alice"]!;
    const records: NegotiationRecord[] = [];
    const transport = nodemailer.createTransport(
      saslkit(
        { host: e.host, port: e.smtp.tlsPort, secure: true, tls: { ca: readFileSync(e.caFile, "utf8"), servername: e.tlsServerName }, auth: { user: alice.user, pass: alice.password, method: "PLAIN" } },
        { mechanisms: [...allProviders], onNegotiation: (r) => records.push(r) },
      ),
    );
    const id = marker("nodemailer-465");
    const raw = rawMessage(e, id, [alice.address]);
    try {
      await transport.sendMail({ envelope: { from: `sender@${e.domain}`, to: [alice.address] }, raw });
    } finally {
      transport.close();
    }
    expect(records[0]?.chosen).toBe("PLAIN");
    assertDeliveredExactly(await waitForDelivered(alice.user, id, e), raw);
  });
});

describe.skipIf(!env)("nodemailer with saslkit against Postfix, host named as a remote one, requireTLS: false (opportunistic STARTTLS)", () => {
  it("PLAIN is refused before AUTH (the hook cannot see that STARTTLS happened) while SCRAM-SHA-256 logs in", async () => {
    const e = env!;
    const alice = e.users["alice"]!;
    // The options name a remote host; the socket goes to the test Postfix on loopback.
    const getSocket = (_o: unknown, callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void) => {
      const socket = net.connect(e.smtp.port, e.host, () => callback(null, { connection: socket }));
      socket.once("error", (error) => callback(error));
    };
    const make = (method?: string) => {
      const log = captureLogger();
      const transport = nodemailer.createTransport(
        saslkit(
          {
            host: "mail.saslkit.test",
            port: e.smtp.port,
            requireTLS: false, // nodemailer's opportunistic STARTTLS, chosen explicitly (saslkit() would require it)
            getSocket,
            tls: { ca: readFileSync(e.caFile, "utf8"), servername: e.tlsServerName },
            auth: { user: alice.user, pass: alice.password, ...(method ? { method } : {}) },
            logger: log.logger,
            debug: true,
          },
          { mechanisms: [...allProviders] },
        ),
      );
      return { transport, log };
    };
    const forced = make("PLAIN");
    const error = (await forced.transport.verify().catch((caught: unknown) => caught)) as SaslkitAuthError;
    forced.transport.close();
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.reason).toBe("no-mechanism");
    expect(error.message).toContain("requireTLS: true");
    // nodemailer did upgrade (its log says so), but no AUTH line went out.
    expect(forced.log.lines.some((l) => l.includes("Connection upgraded with STARTTLS"))).toBe(true);
    expect(forced.log.lines.filter((l) => /\[smtp-connection\] AUTH /.test(l))).toEqual([]);

    const negotiated = make();
    expect(await negotiated.transport.verify()).toBe(true);
    negotiated.transport.close();
    expect(negotiated.log.lines.some((l) => l.includes("AUTH SCRAM-SHA-256 /* secret */"))).toBe(true);
    assertNoSecret([...forced.log.lines, ...negotiated.log.lines, error.message], alice.user, alice.password);
  });
});

describe.skipIf(!env)("nodemailer with saslkit against Dovecot submission, SASLprep opt-in", () => {
  it('prepare: "saslprep" lets PLAIN log in with a password Dovecot stores prepared; without it the same password is refused', async () => {
    const e = env!;
    const prep = e.users["prep"]!;
    const given = prep.saslprepPasswords![0]!; // "I\u00ADX": SASLprep maps it to the stored "IX"
    const verify = async (prepare?: "saslprep") => {
      const transport = nodemailer.createTransport(
        saslkit(
          { host: e.host, port: e.submission.port, requireTLS: true, tls: { ca: readFileSync(e.caFile, "utf8"), servername: e.tlsServerName }, auth: { user: prep.user, pass: given, method: "PLAIN" } },
          { mechanisms: [...allProviders], ...(prepare ? { prepare } : {}) },
        ),
      );
      try {
        return await transport.verify().catch((caught: unknown) => caught);
      } finally {
        transport.close();
      }
    };
    expect(await verify("saslprep")).toBe(true);
    const refused = (await verify()) as SaslkitAuthError;
    expect(refused).toBeInstanceOf(SaslkitAuthError);
    expect(refused.responseCode).toBe(535);
  });
});
