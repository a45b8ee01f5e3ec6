/**
 * nodemailer as the sender, saslkit as its authentication, against the embedded SMTP server on
 * 127.0.0.1 (@saslkit/smtp-server) and a scripted one. A host name that is not loopback is
 * reached through nodemailer's getSocket (the socket goes to 127.0.0.1, the options name
 * mail.example.test), so the cleartext rule sees a remote host.
 */
import net from "node:net";
import { plain } from "@saslkit/mech-plain";
import { deriveScramKeys, prepareScramPassword, scramProviders, scramSha1, scramSha256, type ScramStoredKeys } from "@saslkit/mech-scram";
import { saslkit, SaslkitAuthError, SaslkitOptionError, type NegotiationRecord } from "@saslkit/nodemailer";
import { SmtpServer, type ServerTranscriptEntry, type SmtpServerHandle, type SmtpServerOptions } from "@saslkit/smtp-server";
import { startScriptedServer, testCertificates, type TestCertificates } from "@saslkit/test-kit";
import nodemailer from "nodemailer";
import { format } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

const USER = "alice";
const PASS = "Tr0ub4dor&3-secret";
let keys: Record<string, ScramStoredKeys>;
let certs: TestCertificates;
const servers: SmtpServerHandle[] = [];

beforeAll(async () => {
  const prepared = prepareScramPassword(PASS);
  keys = { "SHA-256": await deriveScramKeys("SHA-256", prepared), "SHA-1": await deriveScramKeys("SHA-1", prepared) };
  certs = await testCertificates();
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(o: Partial<Omit<SmtpServerOptions, "transcript">> & { transcript?: ServerTranscriptEntry[] } = {}): Promise<SmtpServerHandle> {
  const { transcript, ...rest } = o;
  const s = await SmtpServer.start({
    mechanisms: [plain, scramSha256, scramSha1],
    callbacks: {
      lookupScramKeys: (u, hash) => (u === USER ? keys[hash] : undefined),
      verifyPassword: (u, p) => u === USER && p === PASS,
    },
    requireAuth: true,
    ...(transcript ? { transcript: (e: ServerTranscriptEntry) => void transcript.push(e) } : {}),
    ...rest,
  });
  servers.push(s);
  return s;
}

/** A logger that keeps every line nodemailer (and saslkit through it) writes, formatted. */
function captureLogger() {
  const lines: string[] = [];
  const entries: Record<string, unknown>[] = [];
  const at =
    (level: string) =>
    (entry: Record<string, unknown>, message: string, ...args: unknown[]) => {
      entries.push(entry);
      let i = 0;
      lines.push(`${level} [${String(entry["component"] ?? "")}] ${String(message).replace(/%s/g, () => String(args[i++]))} ${JSON.stringify(entry)}`);
    };
  return { lines, entries, logger: { trace: at("trace"), debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), fatal: at("fatal") } };
}

/** Every form a secret could leak in: raw, base64 (padded and not), and inside a PLAIN payload. */
function assertNoSecret(texts: readonly string[], secret = PASS): void {
  const b64 = Buffer.from(secret).toString("base64");
  const plainPayload = Buffer.from(`\0${USER}\0${secret}`).toString("base64");
  for (const text of texts) {
    for (const form of [secret, b64, b64.replace(/=+$/, ""), plainPayload.replace(/=+$/, "")]) expect(text, `a log line or message carries "${form}"`).not.toContain(form);
  }
}

/** getSocket that connects to 127.0.0.1:port whatever host the options name. */
function viaLoopback(port: number) {
  return (_options: unknown, callback: (err: Error | null, socketOptions?: { connection: net.Socket }) => void) => {
    const socket = net.connect(port, "127.0.0.1", () => callback(null, { connection: socket }));
    socket.once("error", (e) => callback(e));
  };
}

/** The message the server accepted last (it is kept before the 250 that ends sendMail). */
function last(s: SmtpServerHandle) {
  const m = s.messages.at(-1);
  if (!m) throw new Error("no message arrived");
  return m;
}

const message = (tag: string) => ({ from: `${USER}@example.test`, to: "bob@example.test", subject: tag, text: `body of ${tag}` });

/** A scripted server's opening: the greeting, then nodemailer's EHLO and saslkit's own, both answered with `AUTH <auth>`. */
const opening = (auth: string): string => `S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 AUTH ${auth}
C: EHLO *
S: 250-mail.example.test
S: 250 AUTH ${auth}
`;

/** PLAIN accepted, then MAIL FROM refused with a reply that repeats the password, raw and in base64. */
const MAIL_REFUSED_WITH_ECHO = `${opening("PLAIN")}C: AUTH PLAIN *
S: 235 2.7.0 ok
C: MAIL FROM:<alice@example.test>
S: 550 5.7.1 not you, ${Buffer.from(PASS).toString("base64")} ${PASS}
C: RSET
S: 250 ok
`;

/**
 * A scripted server offering PLAIN that refuses alice's AUTH PLAIN with 535 and `text`, which is
 * given the base64 of the PLAIN message (a server repeating secrets in its refusal).
 */
function echoingServer(text: (echoed: string) => string) {
  const echoed = Buffer.from(`\0${USER}\0${PASS}`).toString("base64");
  return startScriptedServer(`${opening("PLAIN")}C: AUTH PLAIN ${echoed}
S: 535 5.7.8 ${text(echoed)}
`);
}

/** A server whose EHLO (the sender's, then the auth handler's own) offers no AUTH. */
const NO_AUTH_OFFERED = `S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 8BITMIME
C: EHLO *
S: 250-mail.example.test
S: 250 8BITMIME
`;

/** One message from alice to bob, accepted. */
const ONE_MESSAGE = `C: MAIL FROM:<alice@example.test>
S: 250 2.1.0 Ok
C: RCPT TO:<bob@example.test>
S: 250 2.1.5 Ok
C: DATA
S: 354 go ahead
!data
S: 250 2.0.0 Ok: queued
`;

/** The end of a scripted session: AUTH PLAIN as alice accepted, then one message accepted. */
const PLAIN_THEN_ONE_MESSAGE = `C: AUTH PLAIN AGFsaWNlAFRyMHViNGRvciYzLXNlY3JldA==
S: 235 2.7.0 Authentication successful
${ONE_MESSAGE}`;

/**
 * Sends one message through saslkit (PLAIN and SCRAM installed, no TLS) to a scripted server that
 * plays `opening` then `PLAIN_THEN_ONE_MESSAGE`; returns the negotiation records once the script
 * has run to its end.
 */
async function sendScripted(opening: string, tag: string): Promise<NegotiationRecord[]> {
  const scripted = await startScriptedServer(opening + PLAIN_THEN_ONE_MESSAGE);
  const records: NegotiationRecord[] = [];
  const transport = nodemailer.createTransport(
    saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders], onNegotiation: (r) => records.push(r) }),
  );
  await transport.sendMail(message(tag));
  await scripted.done();
  return records;
}

describe("@saslkit/nodemailer with nodemailer as the sender", () => {
  it("chooses SCRAM-SHA-256 over PLAIN whatever the order mechanisms are given in, and the message arrives with nodemailer's messageId", async () => {
    const s = await server();
    for (const mechanisms of [[plain, ...scramProviders], [...scramProviders, plain]]) {
      const records: NegotiationRecord[] = [];
      const transport = nodemailer.createTransport(
        saslkit({ host: "127.0.0.1", port: s.port, auth: { user: USER, pass: PASS } }, { mechanisms, onNegotiation: (r) => records.push(r) }),
      );
      const info = await transport.sendMail(message("order"));
      const received = last(s);
      expect(received.envelope.auth?.mechanism).toBe("SCRAM-SHA-256");
      expect(received.data.toString()).toContain(`Message-ID: ${info.messageId}`);
      expect(records.map((r) => r.chosen)).toEqual(["SCRAM-SHA-256"]);
      expect(records[0]!.offered).toEqual(expect.arrayContaining(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"]));
      expect(records[0]!.candidates).toEqual(["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
      transport.close();
    }
  });

  it("logs the chosen mechanism through nodemailer's logger, and no log line (debug included) shows the password", async () => {
    const transcript: ServerTranscriptEntry[] = [];
    const s = await server({ transcript });
    const log = captureLogger();
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: s.port, auth: { user: USER, pass: PASS }, logger: log.logger, debug: true }, { mechanisms: [plain, ...scramProviders] }),
    );
    await transport.sendMail(message("log"));
    expect(log.lines.some((l) => l.includes("saslkit: authenticated with SCRAM-SHA-256"))).toBe(true);
    // nodemailer's own debug lines: the handler's commands are shown masked.
    expect(log.lines.some((l) => l.includes("AUTH SCRAM-SHA-256 /* secret */"))).toBe(true);
    expect(transcript.some((e) => e.direction === "C" && e.text.startsWith("AUTH SCRAM-SHA-256"))).toBe(true);
    assertNoSecret(log.lines);
  });

  it("a wrong password ends in nodemailer's EAUTH error with the server's 535 once, the negotiation record, and no secret", async () => {
    const s = await server();
    const log = captureLogger();
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: s.port, auth: { user: USER, pass: "wrong-Password-9" }, logger: log.logger, debug: true }, { mechanisms: [...scramProviders, plain], fallback: false }),
    );
    const error = (await transport.sendMail(message("wrong")).catch((e: unknown) => e)) as SaslkitAuthError;
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.code).toBe("EAUTH");
    expect(error.responseCode).toBe(535);
    expect(error.message).toMatch(/^saslkit: SCRAM-SHA-256 authentication failed: 535 5\.7\.8 /);
    expect(error.message.match(/535/g)).toHaveLength(1);
    expect(error.reason).toBe("sasl");
    expect(error.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["SCRAM-SHA-256"]);
    expect(error.negotiation?.chosen).toBeUndefined();
    assertNoSecret([...log.lines, error.message, JSON.stringify(error), String(error.stack)], "wrong-Password-9");
  });

  it("by default STARTTLS is required for a host that is not loopback: PLAIN then runs over it, and a server without STARTTLS gets no AUTH", async () => {
    const tlsServer = await server({ mechanisms: [plain], tls: { key: certs.key, cert: certs.cert } });
    const ok = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: tlsServer.port, tls: { ca: certs.ca, servername: "localhost" }, getSocket: viaLoopback(tlsServer.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }),
    );
    await ok.sendMail(message("default-tls"));
    expect(last(tlsServer).envelope).toMatchObject({ secure: true, auth: { mechanism: "PLAIN" } });

    const transcript: ServerTranscriptEntry[] = [];
    const clear = await server({ transcript });
    const refused = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: clear.port, getSocket: viaLoopback(clear.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders] }),
    );
    const error = (await refused.sendMail(message("no-starttls")).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe("ETLS");
    expect(transcript.filter((e) => e.direction === "C" && /^AUTH/i.test(e.text))).toEqual([]);
    // The rule is core's cleartextRefusal: loopback keeps nodemailer's opportunistic STARTTLS by default
    // (the other tests here run on 127.0.0.1 without TLS), "never" requires TLS there too, "allow" nowhere.
    const local = { host: "127.0.0.1", auth: { user: USER, pass: PASS } };
    expect(saslkit(local)).not.toHaveProperty("requireTLS");
    expect(saslkit(local, { policy: { cleartext: "never" } })).toHaveProperty("requireTLS", true);
    expect(saslkit({ ...local, host: "mail.example.test" }, { policy: { cleartext: "allow" } })).not.toHaveProperty("requireTLS");
    expect(saslkit({ ...local, host: "mail.example.test", requireTLS: false })).toHaveProperty("requireTLS", false);
  });

  it("with requireTLS: false to a host that is not loopback, PLAIN is refused before any AUTH is sent and the message says how to make TLS certain", async () => {
    const transcript: ServerTranscriptEntry[] = [];
    const s = await server({ mechanisms: [plain], transcript });
    const transport = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: s.port, requireTLS: false, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }),
    );
    const error = (await transport.sendMail(message("clear")).catch((e: unknown) => e)) as SaslkitAuthError;
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.reason).toBe("no-mechanism");
    expect(error.message).toContain("PLAIN: sends the secret in clear");
    expect(error.message).toContain("requireTLS: true");
    expect(error.message).not.toContain("install @saslkit/mech-scram");
    // The EHLO reply the hook asked for is not appended as if the server had refused something.
    expect(error.message).not.toContain("250");
    expect(error.responseCode).toBeUndefined();
    expect(error.negotiation?.refused).toEqual([expect.objectContaining({ mechanism: "PLAIN", reason: "cleartext-password" })]);
    expect(transcript.filter((e) => e.direction === "C" && /^AUTH/i.test(e.text))).toEqual([]);
  });

  it("when only PLAIN is installed and the server offers SCRAM, the refusal says to install SCRAM", async () => {
    const s = await server();
    const transport = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: s.port, requireTLS: false, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }),
    );
    const error = (await transport.verify().catch((e: unknown) => e)) as SaslkitAuthError;
    expect(error.reason).toBe("no-mechanism");
    expect(error.message).toMatch(/SCRAM-SHA-256, SCRAM-SHA-1: no mechanism package/);
    expect(error.message).toContain("install @saslkit/mech-scram");
  });

  it("secured: true without a connection of the caller's (a slip for secure: true) does not make TLS certain: PLAIN is not sent in clear", async () => {
    // nodemailer reads `secured` only as "the socket in options.connection is already TLS"; on its
    // own it changes nothing and nodemailer connects in cleartext.
    const transcript: ServerTranscriptEntry[] = [];
    const s = await server({ mechanisms: [plain], transcript });
    const transport = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: s.port, secured: true, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }),
    );
    const error = (await transport.sendMail(message("secured")).catch((e: unknown) => e)) as Error & { code?: string };
    // Counted as cleartext, so saslkit()'s default for a remote host applies: requireTLS, and this server has no STARTTLS.
    expect(error.code).toBe("ETLS");
    expect(transcript.filter((e) => e.direction === "C" && /^AUTH/i.test(e.text))).toEqual([]);
    expect(s.messages).toEqual([]);
  });

  it("a loopback host reached through getSocket, a proxy or a socket of the caller's is not counted as loopback: PLAIN is not sent in clear", async () => {
    // The socket goes wherever getSocket (or the proxy, or the caller) takes it; "127.0.0.1" in the
    // options then names the proxy's own machine or nothing at all.
    const transcript: ServerTranscriptEntry[] = [];
    const s = await server({ mechanisms: [plain], transcript });
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: s.port, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }),
    );
    const error = (await transport.sendMail(message("via-socket")).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe("ETLS");
    expect(transcript.filter((e) => e.direction === "C" && /^AUTH/i.test(e.text))).toEqual([]);
    const local = { host: "127.0.0.1", auth: { user: USER, pass: PASS } };
    expect(saslkit({ ...local, proxy: "socks5://proxy.example.test:1080" })).toHaveProperty("requireTLS", true);
    expect(saslkit({ ...local, connection: new net.Socket() })).toHaveProperty("requireTLS", true);
    expect(saslkit(local)).not.toHaveProperty("requireTLS");
  });

  it("with requireTLS (STARTTLS certain) PLAIN runs to a host that is not loopback", async () => {
    const s = await server({ mechanisms: [plain], tls: { key: certs.key, cert: certs.cert } });
    const transport = nodemailer.createTransport(
      saslkit(
        { host: "mail.example.test", port: s.port, requireTLS: true, tls: { ca: certs.ca, servername: "localhost" }, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } },
        { mechanisms: [plain] },
      ),
    );
    await transport.sendMail(message("starttls"));
    const received = last(s);
    expect(received.envelope).toMatchObject({ secure: true, auth: { mechanism: "PLAIN" } });
  });

  it("with implicit TLS (secure: true) PLAIN runs to a host that is not loopback", async () => {
    const s = await server({ mechanisms: [plain], tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    const transport = nodemailer.createTransport(
      saslkit(
        { host: "mail.example.test", port: s.port, secure: true, tls: { ca: certs.ca, servername: "localhost" }, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } },
        { mechanisms: [plain] },
      ),
    );
    await transport.sendMail(message("implicit"));
    expect(last(s).envelope).toMatchObject({ secure: true, auth: { mechanism: "PLAIN" } });
  });

  it("SCRAM needs no TLS: with requireTLS: false it runs to a host that is not loopback over cleartext", async () => {
    const s = await server();
    const transport = nodemailer.createTransport(
      saslkit({ host: "mail.example.test", port: s.port, requireTLS: false, getSocket: viaLoopback(s.port), auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders] }),
    );
    await transport.sendMail(message("scram-clear"));
    expect(last(s).envelope).toMatchObject({ secure: false, auth: { mechanism: "SCRAM-SHA-256" } });
  });

  it("auth.method naming a mechanism forces it; authMethod does the same", async () => {
    const s = await server();
    for (const opts of [{ auth: { user: USER, pass: PASS, method: "scram-sha-1" } }, { authMethod: "PLAIN", auth: { user: USER, pass: PASS } }]) {
      const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: s.port, ...opts }, { mechanisms: [plain, ...scramProviders] }));
      await transport.sendMail(message("forced"));
      expect(last(s).envelope.auth?.mechanism).toBe("auth" in opts && opts.auth.method ? "SCRAM-SHA-1" : "PLAIN");
    }
  });

  it("per-message auth (no auth on the transport) also goes through saslkit", async () => {
    const s = await server();
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: s.port }, { mechanisms: [plain, ...scramProviders] }));
    await transport.sendMail({ ...message("per-message"), auth: { user: USER, pass: PASS } });
    expect(last(s).envelope.auth?.mechanism).toBe("SCRAM-SHA-256");
  });

  it("a per-message password stays masked after its login: a server repeating it in the MAIL FROM refusal does not put it in the error", async () => {
    const scripted = await startScriptedServer(MAIL_REFUSED_WITH_ECHO);
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true }, { mechanisms: [plain] }));
    const error = (await transport.sendMail({ ...message("per-message-echo"), auth: { user: USER, pass: PASS } }).catch((e: unknown) => e)) as Error & { response?: string; responseCode?: number };
    await scripted.close();
    expect(error.responseCode).toBe(550);
    expect(error.message).toContain("not you, **** ****");
    assertNoSecret([error.message, String(error.response), String(error.stack)]);
  });

  it("every recipient refused with the password in the reply: EENVELOPE's rejectedErrors show it masked too", async () => {
    const b64 = Buffer.from(PASS).toString("base64");
    const scripted = await startScriptedServer(`${opening("PLAIN")}C: AUTH PLAIN *
S: 235 2.7.0 ok
C: MAIL FROM:<alice@example.test>
S: 250 ok
C: RCPT TO:<bob@example.test>
S: 550 5.7.1 not you, ${b64} ${PASS}
C: RSET
S: 250 ok
`);
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }));
    const error = (await transport.sendMail(message("rcpt-echo")).catch((e: unknown) => e)) as Error & { code?: string; rejectedErrors?: (Error & { response?: string })[] };
    await scripted.close();
    expect(error.code).toBe("EENVELOPE");
    expect(error.rejectedErrors?.length).toBe(1);
    assertNoSecret([error.message, String((error as { response?: unknown }).response), ...(error.rejectedErrors ?? []).flatMap((e) => [e.message, String(e.response), String(e.stack)])]);
  });

  it("a pooled transport: the MAIL FROM refusal that repeats the password shows it masked (the pool does not log a send error)", async () => {
    const scripted = await startScriptedServer(MAIL_REFUSED_WITH_ECHO);
    const transport = nodemailer.createTransport(saslkit({ pool: true, host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }));
    const error = (await transport.sendMail(message("pool-mail-echo")).catch((e: unknown) => e)) as Error & { code?: string; response?: string };
    transport.close();
    await scripted.close();
    expect(error.code).toBe("EENVELOPE");
    assertNoSecret([error.message, String(error.response), String(error.stack)]);
  });

  it("credentials in a url go through saslkit, and verify() authenticates the same way", async () => {
    const s = await server();
    const transport = nodemailer.createTransport(
      saslkit({ url: `smtp://${USER}:${encodeURIComponent(PASS)}@127.0.0.1:${s.port}` }, { mechanisms: [plain, ...scramProviders] }),
    );
    expect(await transport.verify()).toBe(true);
    await transport.sendMail(message("url"));
    expect(last(s).envelope.auth?.mechanism).toBe("SCRAM-SHA-256");
  });

  it("a pooled transport logs every pooled connection in through saslkit", async () => {
    const s = await server();
    const records: NegotiationRecord[] = [];
    const transport = nodemailer.createTransport(
      saslkit({ pool: true, maxConnections: 2, host: "127.0.0.1", port: s.port, auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders], onNegotiation: (r) => records.push(r) }),
    );
    try {
      await Promise.all([1, 2, 3, 4].map((n) => transport.sendMail(message(`pool-${n}`))));
    } finally {
      transport.close();
    }
    expect(s.messages.map((m) => m.envelope.auth?.mechanism)).toEqual(Array(4).fill("SCRAM-SHA-256"));
    expect(records.length).toBeGreaterThanOrEqual(1);
    expect(records.every((r) => r.chosen === "SCRAM-SHA-256")).toBe(true);
  });

  it("an initial response too long for the 512-octet AUTH line is sent after the server's empty 334", async () => {
    // PLAIN fields may hold 255 octets each (RFC 4616): two long ones make a 672-character payload.
    const longUser = `${"u".repeat(230)}@example.test`;
    const longPass = `${"p".repeat(230)}-${PASS}`;
    const transcript: ServerTranscriptEntry[] = [];
    const s = await server({ mechanisms: [plain], transcript, callbacks: { verifyPassword: (u, p) => u === longUser && p === longPass } });
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: s.port, auth: { user: longUser, pass: longPass } }, { mechanisms: [plain] }));
    await transport.sendMail(message("long"));
    expect(last(s).envelope.auth).toMatchObject({ mechanism: "PLAIN", identity: { authcid: longUser } });
    const lines = transcript.map((e) => `${e.direction}: ${e.text}`);
    const auth = lines.findIndex((l) => l.startsWith("C: AUTH"));
    expect(lines[auth]).toBe("C: AUTH PLAIN");
    expect(lines[auth + 1]).toMatch(/^S: 334\b/);
  });

  it("prepare: \"saslprep\" prepares PLAIN's password as @saslkit/smtp does; the default sends it as given", async () => {
    // The server stores the prepared form "IX"; the user types "I\u00ADX" (a soft hyphen SASLprep removes).
    const s = await server({ mechanisms: [plain], callbacks: { verifyPassword: (u, p) => u === USER && p === "IX" } });
    const options = { host: "127.0.0.1", port: s.port, auth: { user: USER, pass: "I\u00ADX" } };
    const prepared = nodemailer.createTransport(saslkit(options, { mechanisms: [plain], prepare: "saslprep" }));
    expect(await prepared.verify()).toBe(true);
    const asGiven = nodemailer.createTransport(saslkit(options, { mechanisms: [plain] }));
    expect(((await asGiven.verify().catch((e: unknown) => e)) as SaslkitAuthError).responseCode).toBe(535);
  });

  it("falls back to the next mechanism when the server rejects the first (504)", async () => {
    const records = await sendScripted(
      `${opening("CRAM-MD5 SCRAM-SHA-256 PLAIN")}C: AUTH SCRAM-SHA-256 *
S: 504 5.5.4 Unrecognized authentication type
`,
      "fallback",
    );
    expect(records[0]?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([
      ["SCRAM-SHA-256", "mechanism-rejected"],
      ["PLAIN", undefined],
    ]);
    expect(records[0]?.chosen).toBe("PLAIN");
    expect(records[0]?.refused).toEqual([expect.objectContaining({ mechanism: "CRAM-MD5", reason: "not-installed" })]);
  });

  it("a server that refuses the second EHLO: saslkit negotiates among the mechanisms nodemailer saw", async () => {
    const records = await sendScripted(
      `S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 AUTH CRAM-MD5 PLAIN SCRAM-SHA-256
C: EHLO *
S: 503 5.5.1 Duplicate EHLO
`,
      "ehlo-refused",
    );
    expect(records[0]?.offered).toEqual(["PLAIN", "CRAM-MD5"]);
    expect(records[0]?.chosen).toBe("PLAIN");
  });

  it("after 534 (mechanism too weak) it never falls back to a weaker mechanism", async () => {
    const scripted = await startScriptedServer(`${opening("PLAIN SCRAM-SHA-256")}C: AUTH SCRAM-SHA-256 *
S: 534 5.7.9 Authentication mechanism is too weak
`);
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders] }),
    );
    const error = (await transport.sendMail(message("too-weak")).catch((e: unknown) => e)) as SaslkitAuthError;
    await scripted.done().catch(() => undefined);
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.responseCode).toBe(534);
    expect(error.negotiation?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["SCRAM-SHA-256", "mechanism-too-weak"]]);
    expect(scripted.received.filter((l) => l.startsWith("AUTH"))).toHaveLength(1);
  });

  it("a server whose EHLO offers no AUTH: sendMail and verify fail with no-mechanism instead of sending unauthenticated", async () => {
    // nodemailer skips login when EHLO lists no AUTH (unless forceAuth), and sendMail would report
    // success for a message sent without the authentication the caller configured (and, with SCRAM,
    // to a server that proved nothing). @saslkit/smtp fails with no-mechanism there; so must this.
    for (const run of ["sendMail", "verify"] as const) {
      const scripted = await startScriptedServer(NO_AUTH_OFFERED);
      const transport = nodemailer.createTransport(
        saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders] }),
      );
      const error = (await (run === "sendMail" ? transport.sendMail(message("no-auth")) : transport.verify()).catch((e: unknown) => e)) as SaslkitAuthError;
      await scripted.done().catch(() => undefined);
      expect(error, run).toBeInstanceOf(SaslkitAuthError);
      expect(error.code).toBe("EAUTH");
      expect(error.reason).toBe("no-mechanism");
      expect(error.message).toContain("the server offers no AUTH mechanism");
      expect(scripted.received.filter((l) => /^(MAIL|AUTH)/i.test(l))).toEqual([]);
      await scripted.close();
    }
  });

  it("per-message credentials only: a server whose EHLO offers no AUTH fails sendMail with no-mechanism, and nothing is sent", async () => {
    const scripted = await startScriptedServer(NO_AUTH_OFFERED);
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true }, { mechanisms: [plain, ...scramProviders] }));
    const error = (await transport.sendMail({ ...message("no-auth-per-message"), auth: { user: USER, pass: PASS } }).catch((e: unknown) => e)) as SaslkitAuthError;
    await scripted.done().catch(() => undefined);
    await scripted.close();
    // Without the fix nodemailer skipped login and went on to MAIL FROM.
    expect(scripted.received.filter((l) => /^(MAIL|AUTH)/i.test(l))).toEqual([]);
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.code).toBe("EAUTH");
    expect(error.reason).toBe("no-mechanism");
    expect(error.message).toContain("the server offers no AUTH mechanism");
  });

  it("per-message credentials only: verify() still checks the connection alone (no credentials to try), whether the server offers AUTH or not; a message without credentials is sent as nodemailer sends it", async () => {
    for (const ehlo of ["250 AUTH PLAIN SCRAM-SHA-256", "250 8BITMIME"]) {
      const scripted = await startScriptedServer(`S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: ${ehlo}
C: QUIT
S: 221 bye
`);
      const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true }, { mechanisms: [plain, ...scramProviders] }));
      expect(await transport.verify(), ehlo).toBe(true);
      await scripted.done();
      await scripted.close();
      expect(scripted.received.filter((l) => /^AUTH/i.test(l)), ehlo).toEqual([]);
    }
    const scripted = await startScriptedServer(`S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 8BITMIME
${ONE_MESSAGE}`);
    const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true }, { mechanisms: [plain, ...scramProviders] }));
    await transport.sendMail(message("no-credentials"));
    await scripted.done();
    await scripted.close();
    // A pool has no per-message auth, and an explicit forceAuth is the caller's: neither gets the empty auth.
    const local = { host: "127.0.0.1", port: 25 };
    expect(saslkit(local)).toMatchObject({ forceAuth: true, auth: { type: "custom", method: "SASLKIT" } });
    for (const o of [{ ...local, pool: true }, { ...local, forceAuth: false }]) expect(saslkit(o)).not.toHaveProperty("auth");
  });

  it("per-message credentials only: a message without credentials logs no 'User undefined authenticated' (nothing was authenticated); one with credentials still logs its login", async () => {
    const entries: unknown[] = [];
    const logger = { info: (entry: unknown) => entries.push(entry), debug: () => undefined, error: () => undefined, warn: () => undefined, trace: () => undefined, fatal: () => undefined };
    const logins = () => entries.filter((e) => (e as { action?: string } | null)?.action === "authenticated");
    const without = await startScriptedServer(`S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 8BITMIME
${ONE_MESSAGE}`);
    const bare = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: without.port, ignoreTLS: true, logger }, { mechanisms: [plain] }));
    await bare.sendMail(message("no-credentials-logged"));
    await without.done();
    await without.close();
    expect(logins()).toEqual([]);
    // The same transport shape with a message's own credentials: its login is logged as before.
    const withAuth = await startScriptedServer(`${opening("PLAIN")}C: AUTH PLAIN *
S: 235 2.7.0 Authentication successful
${ONE_MESSAGE}`);
    const perMessage = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: withAuth.port, ignoreTLS: true, logger }, { mechanisms: [plain] }));
    await perMessage.sendMail({ ...message("credentials-logged"), auth: { user: USER, pass: PASS } });
    await withAuth.done();
    await withAuth.close();
    expect(logins()).toMatchObject([{ action: "authenticated", username: USER }]);
  });

  it("a server that drips a reply byte by byte (each byte inside socketTimeout) fails the login after socketTimeout, not when it pleases", async () => {
    // nodemailer's socketTimeout is an idle timer: every byte restarts it, and nodemailer has no
    // deadline for AUTH. Each reply the handler waits for (its EHLO, each AUTH step) must come within socketTimeout.
    const challenge = Buffer.from("r=abcdefghijklmnopqrstuvwxyz0123456789,s=c2FsdHNhbHQ=,i=4096").toString("base64");
    const scripts = [
      `${opening("SCRAM-SHA-256")}C: AUTH SCRAM-SHA-256 *\n!drip 100\nS: 334 ${challenge}\n`,
      `S: 220 mail.example.test ESMTP\nC: EHLO *\nS: 250-mail.example.test\nS: 250 AUTH SCRAM-SHA-256\nC: EHLO *\n!drip 100\nS: 250 mail.example.test greets you and offers nothing much today\n`,
    ];
    for (const script of scripts) {
      const scripted = await startScriptedServer(script);
      const transport = nodemailer.createTransport(
        saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, socketTimeout: 500, auth: { user: USER, pass: PASS } }, { mechanisms: [plain, ...scramProviders] }),
      );
      const started = Date.now();
      const error = (await transport.sendMail(message("drip")).catch((e: unknown) => e)) as SaslkitAuthError;
      const took = Date.now() - started;
      await scripted.close();
      expect(error).toBeInstanceOf(SaslkitAuthError);
      expect(error.code).toBe("EAUTH");
      expect(error.reason).toBe("connection");
      // No reply came for the command in flight: the last one nodemailer read is not appended.
      expect(error.message).toBe("saslkit: the server did not answer within socketTimeout (500 ms) during authentication.");
      expect(error.responseCode).toBeUndefined();
      expect(took).toBeLessThan(2500);
    }
  });

  it("a server answering PLAIN's message with an empty 334 gets no second copy: bad-state, cancelled with *", async () => {
    const encoded = Buffer.from(`\0${USER}\0${PASS}`).toString("base64");
    const scripted = await startScriptedServer(`${opening("PLAIN")}C: AUTH PLAIN ${encoded}
S: 334 
C: *
S: 501 5.7.0 Authentication cancelled
`);
    const log = captureLogger();
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS }, logger: log.logger, debug: true }, { mechanisms: [plain] }),
    );
    const error = (await transport.sendMail(message("empty-334")).catch((e: unknown) => e)) as SaslkitAuthError;
    await scripted.done().catch(() => undefined);
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.negotiation?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["PLAIN", "bad-state"]]);
    expect(scripted.received.filter((l) => l.includes(encoded))).toHaveLength(1);
    expect(scripted.received).toContain("*");
    assertNoSecret([...log.lines, error.message, JSON.stringify(error)]);
  });

  it("a server that repeats the password in its refusal: the error and every log line show it masked", async () => {
    const scripted = await echoingServer((echoed) => `bad credentials ${echoed} for password ${PASS}`);
    const log = captureLogger();
    const transport = nodemailer.createTransport(
      saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS }, logger: log.logger, debug: true }, { mechanisms: [plain] }),
    );
    const error = (await transport.sendMail(message("echo")).catch((e: unknown) => e)) as SaslkitAuthError;
    await scripted.done().catch(() => undefined);
    expect(error).toBeInstanceOf(SaslkitAuthError);
    expect(error.responseCode).toBe(535);
    expect(error.message).toContain("bad credentials ****");
    expect(log.lines.length).toBeGreaterThan(5);
    assertNoSecret([...log.lines, error.message, String(error.response), JSON.stringify(error)]);
  });

  it("logger: true (nodemailer's console logger) is masked too: a repeated password never reaches the console", async () => {
    const scripted = await echoingServer((echoed) => `you sent ${echoed} with ${PASS}`);
    const printed: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void printed.push(format(...args)));
    try {
      const transport = nodemailer.createTransport(saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS }, logger: true, debug: true }, { mechanisms: [plain] }));
      await transport.sendMail(message("console")).catch(() => undefined);
      await scripted.done().catch(() => undefined);
    } finally {
      spy.mockRestore();
    }
    expect(printed.some((l) => l.includes("S: 535 5.7.8 you sent ****"))).toBe(true);
    assertNoSecret(printed);
  });

  it("a server that repeats the PLAIN message in an unterminated 535 and closes: nodemailer's ECONNECTION error and its log lines show it masked, with and without a logger", async () => {
    // nodemailer builds this error itself (SMTPConnection#_onClose takes the unterminated remainder as
    // the reply), not saslkit's handler; it is logged, then emitted, then handed to sendMail's caller.
    const script = `${opening("PLAIN")}C: AUTH PLAIN *
!raw 535 5.7.8 you sent ${Buffer.from(`\0${USER}\0${PASS}`).toString("base64")} with ${PASS}
!close
`;
    for (const withLogger of [false, true]) {
      const scripted = await startScriptedServer(script);
      const log = captureLogger();
      const transport = nodemailer.createTransport(
        saslkit({ host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS }, ...(withLogger ? { logger: log.logger, debug: true } : {}) }, { mechanisms: [plain] }),
      );
      const error = (await transport.sendMail(message("unterminated")).catch((e: unknown) => e)) as Error & { code?: string; response?: string; responseCode?: number };
      await scripted.done().catch(() => undefined);
      expect(error.code).toBe("ECONNECTION");
      expect(error.responseCode).toBe(535);
      expect(error.message).toContain("you sent ****");
      const serializedErrors = log.entries.map((e) => (e["err"] instanceof Error ? `${e["err"].message} ${String((e["err"] as { response?: unknown }).response)}` : ""));
      assertNoSecret([...log.lines, ...serializedErrors, error.message, String(error.response), String(error.stack), JSON.stringify(error)]);
      await scripted.close();
    }
  });

  it("rejects unknown options, OAuth2 auth and a method named twice with a configuration error", () => {
    const base = { host: "127.0.0.1", port: 2525, auth: { user: USER, pass: PASS } };
    const bad = [
      () => saslkit(base, { mechanisms: [plain], policies: {} } as never),
      () => saslkit(base, { maxAttempts: 0 }),
      () => saslkit(base, { prepare: "SASLprep" as never }),
      () => saslkit({ ...base, auth: { type: "OAuth2", user: USER } }),
      () => saslkit({ ...base, auth: { ...base.auth, method: "PLAIN" } }, { policy: { force: "SCRAM-SHA-256" } }),
      () => saslkit("smtp://x" as never),
      // A policy the mail clients would refuse: a string for a list, a misspelt key, a wrong type.
      () => saslkit(base, { policy: { exclude: "PLAIN" as never } }),
      () => saslkit(base, { policy: { excludes: ["PLAIN"] } as never }),
      () => saslkit(base, { policy: { cleartext: "always" as never } }),
      // A mechanism's name, or an object that is no mechanism source (it failed at login with a TypeError).
      () => saslkit(base, { mechanisms: "scram" as never }),
      () => saslkit(base, { mechanisms: {} as never }),
      () => saslkit(base, { mechanisms: null as never }),
    ];
    for (const f of bad) {
      const e = (() => {
        try {
          f();
        } catch (error) {
          return error;
        }
        return undefined;
      })() as SaslkitOptionError;
      expect(e).toBeInstanceOf(SaslkitOptionError);
      expect(e.code).toBe("invalid-option");
      expect(e.message).toMatch(/^saslkit\(\): .*"?(options|policies|maxAttempts|prepare|auth\.type|auth\.method|policy\.|mechanisms)/);
    }
  });
});
