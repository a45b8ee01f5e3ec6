/**
 * The client shape SMTP shares with IMAP and POP3: run-time option validation, the TLS default
 * (no credentials in clear to a remote host), timeouts that mean what they say, one error shape
 * and the negotiation record, the RFC 4422 service name, the 512-octet AUTH line rule through
 * core's session driver.
 */
import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { MailProtocolError } from "@saslkit/transport";
import { startScriptedServer, testCertificates } from "@saslkit/test-kit";
import { SmtpClient, SmtpError, createPool, sendMail, type SmtpClientOptions, type SmtpPoolOptions } from "@saslkit/smtp";
import { initialResponseFits } from "../src/auth.js";
import { peerOverride, tlsDecision } from "../src/setup.js";
import { all, cramFixture, emptyIrFixture, plainFixture } from "./fixtures.js";
import { failure, opts } from "./options.js";

const HELLO = "S: 220 mx.example.com ESMTP\nC: EHLO client.example.org\n";

/** A TCP server that counts connections and never answers: proves an option error made no connection. */
async function silentServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    count++;
    sockets.add(s);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

describe("options are validated at run time (invalid-option, before any connection)", () => {
  /** Text that passes the PEM check (its content does not matter: nothing connects). */
  const PEM_TEXT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ["tls in capitals", { tls: "STARTTLS" }, "tls", /"implicit", "starttls", "none".*got "STARTTLS"/],
    ["tls misspelt", { tls: "implict" }, "tls", /"implicit", "starttls", "none"/],
    ["tls as nodemailer's TLS settings object", { tls: { rejectUnauthorized: false } }, "tls", /tlsOptions/],
    ["tls as a boolean", { tls: true }, "tls", /implicit/],
    ["nodemailer's secure", { secure: true }, "secure", /another mail library.*tls: "implicit"/],
    ["nodemailer's requireTLS", { requireTLS: true }, "requireTLS", /tls: "starttls"/],
    ["the removed requireTls", { requireTls: true }, "requireTls", /tls: "starttls"/],
    ["nodemailer's auth.user", { auth: { user: "u", password: "p" } }, "auth.user", /auth\.username/],
    ["nodemailer's auth.pass", { auth: { username: "u", pass: "p" } }, "auth.pass", /auth\.password/],
    ["a misspelt key", { hots: "x" }, "hots", /Unknown option "hots"\. Accepted options: host, port, tls/],
    ["a misspelt timeout", { timeouts: { replay: 5 } }, "timeouts.replay", /Unknown option "timeouts\.replay".*timeouts\.reply/],
    ["a former SMTP name: authFallback", { authFallback: false }, "authFallback", /it is now "fallback"/],
    ["a former SMTP name: maxAuthAttempts", { maxAuthAttempts: 2 }, "maxAuthAttempts", /it is now "maxAttempts"/],
    ["a former SMTP name: maxAuthRounds", { maxAuthRounds: 2 }, "maxAuthRounds", /maxRounds/],
    ["a former SMTP name: timeouts.command", { timeouts: { command: 5 } }, "timeouts.command", /timeouts\.reply/],
    ["a former SMTP name: timeouts.greeting", { timeouts: { greeting: 5 } }, "timeouts.greeting", /timeouts\.connect/],
    ["a port out of range", { port: 70000 }, "port", /from 1 to 65535/],
    ["a negative timeout", { timeouts: { reply: -1 } }, "timeouts.reply", /number from 0/],
    ["pipelining as a word", { pipelining: "yes" }, "pipelining", /"full", "transaction", "off"/],
    ["maxRounds as a string", { maxRounds: "10" }, "maxRounds", /integer/],
    ["rejectUnauthorized as a string", { tlsOptions: { rejectUnauthorized: "false" } }, "tlsOptions.rejectUnauthorized", /true or false, got "false"/],
    // An empty ca (an unset variable, an empty file) made Node trust its public roots instead of the CA meant.
    ["an empty ca", { tlsOptions: { ca: "" } }, "tlsOptions.ca", /PEM/],
    ["an empty ca list", { tlsOptions: { ca: [] } }, "tlsOptions.ca", /PEM/],
    ["a ca that is a file's path, not its contents", { tlsOptions: { ca: "/etc/ssl/private-ca.pem" } }, "tlsOptions.ca", /contents, not its path/],
    ["a ca of the wrong type", { tlsOptions: { ca: null } }, "tlsOptions.ca", /PEM/],
    ["a ca list holding a number", { tlsOptions: { ca: [42] } }, "tlsOptions.ca", /PEM/],
    ["a cert of the wrong type", { tlsOptions: { cert: 42, key: PEM_TEXT } }, "tlsOptions.cert", /PEM/],
    ["a key that is not PEM", { tlsOptions: { key: "not a key", cert: PEM_TEXT } }, "tlsOptions.key", /PEM/],
    // A cert alone presents no certificate (Node needs its key), yet EXTERNAL would be tried.
    ["a cert without its key", { tlsOptions: { cert: PEM_TEXT } }, "tlsOptions", /cert and key given together/],
    ["a key without its cert", { tlsOptions: { key: PEM_TEXT } }, "tlsOptions", /cert and key given together/],
  ];
  for (const [name, extra, option, message] of cases) {
    it(`${name}: names "${option}" and what is accepted`, async () => {
      const server = await silentServer();
      try {
        const error = await failure(SmtpClient.connect({ host: "127.0.0.1", port: server.port, ...extra } as unknown as SmtpClientOptions));
        expect(error).toMatchObject({ phase: "connect", code: "invalid-option", option });
        expect(error.message).toMatch(message);
        expect(server.connections()).toBe(0);
      } finally {
        await server.close();
      }
    });
  }

  it("a missing host, and options that are not an object", async () => {
    expect(await failure(SmtpClient.connect({} as SmtpClientOptions))).toMatchObject({ code: "invalid-option", option: "host" });
    expect(await failure(SmtpClient.connect("smtp.example.com" as unknown as SmtpClientOptions))).toMatchObject({ code: "invalid-option" });
  });

  it("sendMail validates the same way", async () => {
    const error = await failure(sendMail({ host: "127.0.0.1", secure: true } as unknown as SmtpClientOptions, "Subject: x\r\n\r\nx\r\n"));
    expect(error).toMatchObject({ code: "invalid-option", option: "secure" });
  });

  it("createPool checks its own options and the connection's at once", () => {
    const connection = { host: "127.0.0.1", port: 1 };
    expect(() => createPool({ connection, maxMessages: 10 } as unknown as SmtpPoolOptions)).toThrow(expect.objectContaining({ code: "invalid-option", option: "maxMessages" }));
    expect(() => createPool({ connection, rateDelta: 1000 } as unknown as SmtpPoolOptions)).toThrow(/rateLimit\.perMs/);
    expect(() => createPool({ connection, maxConnections: 0 })).toThrow(expect.objectContaining({ code: "invalid-option", option: "maxConnections" }));
    expect(() => createPool({ connection: { ...connection, secure: true } as unknown as SmtpClientOptions })).toThrow(
      expect.objectContaining({ code: "invalid-option", option: "connection.secure", message: expect.stringContaining('"connection.secure"') }),
    );
  });

  it("a secret value is never quoted in an option error", async () => {
    const error = await failure(SmtpClient.connect({ host: "127.0.0.1", auth: { username: "u", password: 12345678 } } as unknown as SmtpClientOptions));
    expect(error).toMatchObject({ code: "invalid-option", option: "auth.password" });
    expect(error.message).not.toContain("12345678");
    const key = await failure(SmtpClient.connect({ host: "127.0.0.1", tlsOptions: { key: "private-key-material", cert: PEM_TEXT } } as unknown as SmtpClientOptions));
    expect(key).toMatchObject({ code: "invalid-option", option: "tlsOptions.key" });
    expect(key.message).not.toContain("private-key-material");
    const alone = await failure(SmtpClient.connect({ host: "127.0.0.1", tlsOptions: { key: "private-key-material" } } as unknown as SmtpClientOptions));
    expect(alone).toMatchObject({ code: "invalid-option", option: "tlsOptions" });
    expect(alone.message).not.toContain("private-key-material");
  });
});

describe("the TLS default: credentials never go to a remote host without TLS", () => {
  afterEach(() => {
    peerOverride.loopback = undefined;
  });

  it("tlsDecision, case by case", () => {
    const remote = { secure: false, loopback: false };
    const local = { secure: false, loopback: true };
    const d = (mode: "starttls" | "none" | undefined, offered: boolean, credentials: boolean, cleartext: "loopback" | "never" | "allow" | undefined, channel = remote) =>
      tlsDecision({ mode, offered, credentials, cleartext, channel }).action;
    expect(d(undefined, true, true, undefined)).toBe("upgrade");
    expect(d(undefined, false, true, undefined)).toBe("refuse"); // remote, credentials, no STARTTLS
    expect(d(undefined, false, false, undefined)).toBe("continue"); // nothing secret to protect
    expect(d(undefined, false, true, undefined, local)).toBe("continue"); // loopback
    expect(d(undefined, false, true, "never", local)).toBe("refuse"); // strict policy, even on loopback
    expect(d(undefined, false, true, "allow")).toBe("continue"); // the cleartext opt-in
    expect(d("starttls", false, false, "allow", local)).toBe("refuse"); // "starttls" requires it always
    expect(d("none", true, true, undefined)).toBe("continue"); // "none" never upgrades
  });

  for (const offer of ["PLAIN LOGIN", "SCRAM-SHA-256 SCRAM-SHA-1", "CRAM-MD5"]) {
    it(`a remote server without STARTTLS offering ${offer}: tls-required, no AUTH line`, async () => {
      peerOverride.loopback = false;
      const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH ${offer}\n!stall\n`);
      const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "secret-pw" } })));
      expect(error).toMatchObject({ phase: "starttls", code: "tls-required" });
      expect(error.message).toMatch(/not TLS to a non-loopback host/);
      await server.close();
      expect(server.received).toEqual(["EHLO client.example.org"]);
    });
  }

  it("a remote server whose STARTTLS is refused (stripped): tls-required, no AUTH line", async () => {
    peerOverride.loopback = false;
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250-STARTTLS\nS: 250 AUTH CRAM-MD5\nC: STARTTLS\nS: 454 4.7.0 TLS not available\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "secret-pw" } })));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-required", command: "STARTTLS" });
    expect(error.reply?.code).toBe(454);
    await server.close();
    expect(server.received).toEqual(["EHLO client.example.org", "STARTTLS"]);
  });

  it('a remote server with tls: "none": challenge-response mechanisms run, PLAIN is refused by policy', async () => {
    peerOverride.loopback = false;
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN CRAM-MD5\nC: AUTH CRAM-MD5\nS: 334 PENCeUxFREJoU0NnbmhNWitOMjNGNndAZWx3b29kLmlubm9zb2Z0LmNvbT4=\nC: ZnJlZCA5ZTk1YWVlMDljNDBhZjJiODRhMGMyYjNiYmFlNzg2ZQ==\nS: 235 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server, { tls: "none", mechanisms: [plainFixture, cramFixture], auth: { username: "fred", password: "unused" } }));
    expect(client.authenticatedWith).toBe("CRAM-MD5");
    expect(client.negotiation?.refused).toContainEqual(expect.objectContaining({ mechanism: "PLAIN", reason: "cleartext-password" }));
    await client.quit();
    await server.done();
    await server.close();
  });

  it("a remote server without STARTTLS and policy.cleartext 'allow': the opt-in lets every mechanism run", async () => {
    peerOverride.loopback = false;
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: AUTH PLAIN AHUAcA==\nS: 235 ok\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server, { policy: { cleartext: "allow" }, auth: { username: "u", password: "p" } }));
    expect(client.authenticatedWith).toBe("PLAIN");
    expect(client.secure).toBe(false);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("without credentials a remote server without STARTTLS is fine (probe, open relay on a LAN)", async () => {
    peerOverride.loopback = false;
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server));
    expect(client.channel.loopback).toBe(false);
    await client.quit();
    await server.done();
    await server.close();
  });

  it("end to end through 127.0.0.1 with policy.cleartext 'never' (no seam): tls-required before any mechanism", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN\n!stall\n`);
    const error = await failure(SmtpClient.connect(opts(server, { policy: { cleartext: "never" }, auth: { username: "u", password: "secret-pw" } })));
    expect(error).toMatchObject({ phase: "starttls", code: "tls-required" });
    expect(error.message).toMatch(/strict policy/);
    await server.close();
    expect(server.received).toEqual(["EHLO client.example.org"]);
  });
});

describe("timeouts mean what they say", () => {
  for (const [name, timeouts] of [
    ["Infinity", { connect: Infinity, reply: Infinity, data: Infinity }],
    ["above 2^31 ms", { connect: 2 ** 31 + 5, reply: 2 ** 32, data: 2 ** 40 }],
  ] as const) {
    it(`${name}: never fires early (Node's setTimeout would fire after 1 ms)`, async () => {
      const server = await startScriptedServer(
        `!sleep 60\n${HELLO}!sleep 60\nS: 250 mx.example.com\nC: MAIL FROM:<a@example.com>\n!sleep 60\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\n!sleep 60\nS: 250 ok\nC: QUIT\nS: 221 bye\n`,
      );
      const client = await SmtpClient.connect(opts(server, { timeouts }));
      const result = await client.send("Subject: x\r\n\r\nx\r\n", { from: "a@example.com", to: ["b@example.com"] });
      expect(result.reply.code).toBe(250);
      await client.quit();
      await server.done();
      await server.close();
    });
  }

  it("timeouts.connect is one deadline for the whole connect: a slow greeting plus a slow EHLO add up", async () => {
    const server = await startScriptedServer(`!sleep 250\n${HELLO}!sleep 250\nS: 250 mx.example.com\n!stall\n`);
    const started = Date.now();
    const error = await failure(SmtpClient.connect(opts(server, { timeouts: { connect: 400, reply: 5000 } })));
    expect(error.code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(1500);
    await server.close();
  });

  it("timeouts.reply is per reply, and does not apply to the whole connect", async () => {
    const server = await startScriptedServer(`!sleep 200\n${HELLO}!sleep 200\nS: 250 mx.example.com\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server, { timeouts: { connect: 5000, reply: 300 } }));
    await client.quit();
    await server.done();
    await server.close();
  });
});

describe("one error shape, one negotiation record", () => {
  it("SmtpError is a MailProtocolError with (phase, code, message, options)", () => {
    const error = new SmtpError("authenticate", "authentication-failed", "refused.", { mechanism: "PLAIN", command: "AUTH PLAIN ****" });
    expect(error).toBeInstanceOf(MailProtocolError);
    expect(error).toMatchObject({ phase: "authenticate", code: "authentication-failed", mechanism: "PLAIN", command: "AUTH PLAIN ****", name: "SmtpError" });
    expect(error.message).toBe("SMTP authenticate: refused.");
  });

  it("an AUTH failure carries the mechanism (a SASL name) and the negotiation record", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN LOGIN\nC: AUTH PLAIN *\nS: 535 5.7.8 no\nC: QUIT\nS: 221 bye\n`);
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "authentication-failed", mechanism: "PLAIN" });
    expect(error.negotiation).toMatchObject({ offered: ["PLAIN", "LOGIN"], chosen: undefined });
    expect(error.negotiation?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["PLAIN", "authentication-failed"]]);
    await server.done();
    await server.close();
  });

  it("a connection lost mid-AUTH still carries the record: the open attempt ends in the connection's failure", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: AUTH PLAIN *\n!close\n`);
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "closed" });
    expect(error.negotiation?.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["PLAIN", "protocol-error"]]);
    expect(error.negotiation?.attempts[0]?.error?.message).toMatch(/closed/);
    await server.close();
  });

  it("no usable mechanism: core's NoMechanismError as the cause, the record in the error, nothing sent", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH GSSAPI\nC: QUIT\nS: 221 bye\n`);
    const error = await failure(SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } })));
    expect(error).toMatchObject({ phase: "authenticate", code: "no-mechanism" });
    expect((error.cause as Error).name).toBe("NoMechanismError");
    expect(error.negotiation?.offered).toEqual(["GSSAPI"]);
    await server.done();
    await server.close();
    expect(server.received.some((l) => l.startsWith("AUTH"))).toBe(false);
  });

  it("client.negotiation is core's record; channel.service is smtp", async () => {
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: AUTH PLAIN AHUAcA==\nS: 235 ok\nC: QUIT\nS: 221 bye\n`);
    const client = await SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } }));
    expect(client.negotiation).toMatchObject({ offered: ["PLAIN"], candidates: ["PLAIN"], chosen: "PLAIN" });
    expect(client.channel.service).toBe("smtp");
    await client.quit();
    await server.done();
    await server.close();
  });
});

describe("the channel core sees", () => {
  it("clientCertificate is set on TLS when the caller gave a certificate, never in clear", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 STARTTLS\nC: STARTTLS\nS: 220 go ahead\n!starttls\nC: EHLO client.example.org\nS: 250 mx.example.com\nC: QUIT\nS: 221 bye\n`, { tls: certs });
    const client = await SmtpClient.connect(opts(server, { tlsOptions: { ca: certs.ca, cert: certs.cert, key: certs.key } }));
    expect(client.channel).toMatchObject({ secure: true, service: "smtp", clientCertificate: true });
    await client.quit();
    await server.done();
    await server.close();
    const plain = await startScriptedServer(`${HELLO}S: 250 mx.example.com\nC: QUIT\nS: 221 bye\n`);
    const clear = await SmtpClient.connect(opts(plain, { tlsOptions: { cert: certs.cert, key: certs.key } }));
    expect(clear.channel.clientCertificate).toBeUndefined();
    await clear.quit();
    await plain.close();
  });
});

describe("the 512-octet AUTH line, through core's session driver", () => {
  it("initialResponseFits counts 'AUTH <mech> <base64>' plus CRLF", () => {
    // 512 - "AUTH PLAIN ".length - 2 = 499 base64 chars at most: 372 bytes encode to 496.
    expect(initialResponseFits("PLAIN", new Uint8Array(372))).toBe(true);
    expect(initialResponseFits("PLAIN", new Uint8Array(375))).toBe(false);
    expect(initialResponseFits("PLAIN", new Uint8Array(0))).toBe(true);
  });

  it("a response too long for the line goes after an empty 334; an empty one is '='", async () => {
    const long = "x".repeat(600);
    const ir = Buffer.from(`\0u\0${long}`).toString("base64");
    const server = await startScriptedServer(
      `${HELLO}S: 250-mx.example.com\nS: 250 AUTH PLAIN\nC: AUTH PLAIN\nS: 334 \nC: ${ir}\nS: 235 ok\nC: QUIT\nS: 221 bye\n`,
    );
    const client = await SmtpClient.connect(opts(server, { mechanisms: all, policy: { force: "PLAIN" }, auth: { username: "u", password: long } }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
    await server.done();
    await server.close();
    const server2 = await startScriptedServer(`${HELLO}S: 250-mx.example.com\nS: 250 AUTH X-EMPTY\nC: AUTH X-EMPTY =\nS: 235 ok\nC: QUIT\nS: 221 bye\n`);
    const client2 = await SmtpClient.connect(opts(server2, { mechanisms: [emptyIrFixture], auth: { username: "u" } }));
    expect(client2.authenticatedWith).toBe("X-EMPTY");
    await client2.quit();
    await server2.done();
    await server2.close();
  });
});
