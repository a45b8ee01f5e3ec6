import { afterEach, describe, expect, it } from "vitest";
import { SmtpServer } from "@saslkit/smtp-server";
import { startScriptedServer, testCertificates, type ScriptedServer } from "@saslkit/test-kit";
import { main } from "../src/main.js";
import { parseProbeUrl } from "../src/commands/probe.js";
import { memoryIo } from "./helpers.js";

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("probe URL parsing", () => {
  it.each([
    ["smtp://mail.example.org", { protocol: "smtp", host: "mail.example.org", port: 587, tls: "starttls" }],
    ["smtps://mail.example.org", { protocol: "smtp", host: "mail.example.org", port: 465, tls: "implicit" }],
    ["imap://127.0.0.1:1143", { protocol: "imap", host: "127.0.0.1", port: 1143, tls: "starttls" }],
    ["imaps://[::1]", { protocol: "imap", host: "::1", port: 993, tls: "implicit" }],
    ["pop3://h", { protocol: "pop3", host: "h", port: 110, tls: "starttls" }],
    ["pop3s://h:2995", { protocol: "pop3", host: "h", port: 2995, tls: "implicit" }],
  ])("%s", (url, expected) => {
    expect(parseProbeUrl(url)).toEqual(expected);
  });

  it("refuses other schemes, credentials in the URL and non-URLs with exit status 2", async () => {
    for (const arg of ["http://x", "smtp://alice:pw@x", "mail.example.org"]) {
      const { io, stderr } = memoryIo();
      expect(await main(["probe", arg], io)).toBe(2);
      expect(stderr()).toMatch(/^saslkit: /);
    }
  });
});

/**
 * Runs `saslkit probe <scheme>://127.0.0.1:<port> ...args` against a scripted server playing
 * `script`; resolves with the exit status and standard output once the script has run to its end.
 */
async function probeScripted(script: string, scheme: string, args: readonly string[]): Promise<{ status: number; text: string }> {
  const server = await startScriptedServer(script);
  servers.push(server);
  const { io, stdout } = memoryIo();
  const status = await main(["probe", `${scheme}://127.0.0.1:${server.port}`, ...args], io);
  await server.done();
  return { status, text: stdout() };
}

describe("probe over IMAP and POP3 (scripted servers)", () => {
  it("lists IMAP capabilities, the choice, and a reason for every other mechanism", async () => {
    const { status, text } = await probeScripted(
      `
S: * OK [CAPABILITY IMAP4rev1 SASL-IR LOGINDISABLED AUTH=PLAIN AUTH=SCRAM-SHA-256 AUTH=XOAUTH2 AUTH=EXTERNAL AUTH=GSSAPI AUTH=CRAM-MD5] ready
C: A1 LOGOUT
S: * BYE logging out
S: A1 OK LOGOUT completed
`,
      "imap",
      ["--user", "alice"],
    );
    expect(status).toBe(0);
    expect(text).toContain("Channel:        cleartext (loopback)");
    expect(text).toContain("the server does not offer STARTTLS");
    expect(text).toContain("LOGINDISABLED");
    expect(text).toMatch(/Chosen: +SCRAM-SHA-256 \(priority 850; mutual authentication\)/);
    expect(text).toMatch(/XOAUTH2 +missing-credentials: needs token/);
    expect(text).toMatch(/EXTERNAL +explicit-only: /);
    expect(text).toMatch(/GSSAPI +not-installed: /);
    expect(text).toMatch(/CRAM-MD5 +usable, but lower priority \(400\) than SCRAM-SHA-256 \(850\)/);
    expect(text).toMatch(/PLAIN +usable, but lower priority/);
    expect(text).toMatch(/Installed, not offered by the server: .*SCRAM-SHA-512/);
  });

  it("with --oauth and --mechanism, explains the forced choice", async () => {
    const { status, text } = await probeScripted(
      `
S: +OK POP3 ready
C: CAPA
S: +OK Capability list follows
S: USER
S: SASL PLAIN XOAUTH2 SCRAM-SHA-1
S: .
C: QUIT
S: +OK bye
`,
      "pop3",
      ["--oauth", "--mechanism", "XOAUTH2"],
    );
    expect(status).toBe(0);
    expect(text).toContain("Greeting:       +OK POP3 ready");
    expect(text).toContain("  SASL PLAIN XOAUTH2 SCRAM-SHA-1");
    expect(text).toMatch(/Chosen: +XOAUTH2/);
    expect(text).toMatch(/SCRAM-SHA-1 +not-forced: the caller forced XOAUTH2/);
  });

  it("exits 1 when no mechanism fits, still explaining why", async () => {
    const server = await startScriptedServer(`
S: +OK POP3 ready
C: CAPA
S: +OK
S: SASL XOAUTH2
S: .
C: QUIT
S: +OK bye
`);
    servers.push(server);
    const { io, stdout } = memoryIo();
    expect(await main(["probe", `pop3://127.0.0.1:${server.port}`], io)).toBe(1);
    expect(stdout()).toMatch(/Chosen: +none/);
    expect(stdout()).toMatch(/XOAUTH2 +missing-credentials/);
  });

  it("reports a refused connection as a failure (exit 1), not a usage error", async () => {
    const server = await startScriptedServer("!close");
    const port = server.port;
    await server.close();
    const { io, stderr } = memoryIo();
    expect(await main(["probe", `imap://127.0.0.1:${port}`], io)).toBe(1);
    expect(stderr()).toMatch(/^error: /);
  });
});

/** What probe says for EXTERNAL when it plans for a password and gives no client certificate: the whole rule (and TLS when the channel is not). */
const EXTERNAL_LINE = /EXTERNAL +explicit-only: used only when the caller asks for it by name or (over TLS )?when a client certificate is given and no password or other secret is given\n/;

describe("probe explains DIGEST-MD5 and EXTERNAL (issue 13)", () => {
  it("IMAP with SCRAM too: DIGEST-MD5 usable below SCRAM, EXTERNAL needs a certificate and no password", async () => {
    const { status, text } = await probeScripted(
      `
S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=EXTERNAL AUTH=CRAM-MD5 AUTH=DIGEST-MD5 AUTH=SCRAM-SHA-256] ready
C: A1 LOGOUT
S: * BYE logging out
S: A1 OK LOGOUT completed
`,
      "imap",
      ["--user", "alice"],
    );
    expect(status).toBe(0);
    expect(text).toMatch(/Chosen: +SCRAM-SHA-256 /);
    expect(text).toMatch(/DIGEST-MD5 +usable, but lower priority \(500\) than SCRAM-SHA-256 \(850\)\n/);
    expect(text).toMatch(/CRAM-MD5 +usable, but lower priority \(400\) than SCRAM-SHA-256 \(850\)\n/);
    expect(text).toMatch(EXTERNAL_LINE);
  });

  it("POP3 without SCRAM: DIGEST-MD5 is chosen over CRAM-MD5 for its mutual authentication", async () => {
    const { status, text } = await probeScripted(
      `
S: +OK POP3 ready
C: CAPA
S: +OK Capability list follows
S: USER
S: SASL CRAM-MD5 EXTERNAL DIGEST-MD5
S: .
C: QUIT
S: +OK bye
`,
      "pop3",
      ["--user", "alice"],
    );
    expect(status).toBe(0);
    expect(text).toMatch(/Chosen: +DIGEST-MD5 \(priority 500; mutual authentication\)\n/);
    expect(text).toMatch(/CRAM-MD5 +usable, but lower priority \(400\) than DIGEST-MD5 \(500\)\n/);
    expect(text).toMatch(EXTERNAL_LINE);
    expect(text).toContain("or over TLS when a client certificate is given"); // this channel is cleartext
  });

  it("SMTP against the embedded server (STARTTLS, client certificates requested): both lines appear", async () => {
    const certs = await testCertificates();
    const { digestMd5 } = await import("@saslkit/mech-digest-md5");
    const { external } = await import("@saslkit/mech-external");
    const { scramSha256 } = await import("@saslkit/mech-scram");
    const embedded = await SmtpServer.start({
      hostname: "localhost",
      mechanisms: [scramSha256, digestMd5, external],
      callbacks: { lookupPassword: () => undefined },
      tls: { key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true },
    });
    try {
      const { io, stdout } = memoryIo({ files: { "/ca.pem": certs.ca } });
      const status = await main(["probe", `smtp://127.0.0.1:${embedded.port}`, "--user", "alice", "--ca", "/ca.pem"], io);
      const text = stdout();
      expect(status).toBe(0);
      expect(text).toContain("Channel:        TLS (loopback)");
      expect(text).toMatch(/Server offers: +.*DIGEST-MD5/);
      expect(text).toMatch(/Server offers: +.*EXTERNAL/);
      expect(text).toMatch(/DIGEST-MD5 +usable, but lower priority \(500\) than SCRAM-SHA-256 \(850\)\n/);
      expect(text).toMatch(EXTERNAL_LINE);
      expect(text).not.toContain("over TLS when"); // the channel is TLS: only the certificate and the password are missing
    } finally {
      await embedded.close();
    }
  });
});

describe("probe over implicit TLS reads channel binding while the connection is open", () => {
  it("IMAPS: a server offering SCRAM-SHA-256-PLUS is planned with real tls-exporter data, after LOGOUT", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(
      `
S: * OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256 AUTH=SCRAM-SHA-256-PLUS] ready
C: A1 LOGOUT
S: * BYE logging out
S: A1 OK LOGOUT completed
`,
      { tls: { key: certs.key, cert: certs.cert }, implicitTls: true },
    );
    servers.push(server);
    const { io, stdout } = memoryIo({ files: { "/ca.pem": certs.ca } });
    const status = await main(["probe", `imaps://127.0.0.1:${server.port}`, "--user", "alice", "--ca", "/ca.pem"], io);
    await server.done();
    const text = stdout();
    expect(status).toBe(0);
    expect(text).toMatch(/channel binding: tls-exporter/);
    // Planned after LOGOUT: only a snapshot taken while the socket was open still has the data.
    expect(text).toMatch(/Chosen: +SCRAM-SHA-256-PLUS/);
  });
});
