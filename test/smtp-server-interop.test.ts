/**
 * Independent-client interop: CPython's smtplib (not our code) authenticates against the
 * embedded server with the real PLAIN, LOGIN and CRAM-MD5 server halves, over plain loopback
 * and after STARTTLS, then sends a message.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MechanismProvider } from "@saslkit/core";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { login } from "@saslkit/mech-login";
import { plain } from "@saslkit/mech-plain";
import { Readable } from "node:stream";
import { SmtpClient } from "@saslkit/smtp";
import { SmtpServer } from "@saslkit/smtp-server";
import { testCertificates } from "@saslkit/test-kit";

const USER = "alice";
const PASSWORD = "py-interop-Secret-42";
const callbacks = {
  verifyPassword: (u: string, p: string) => u === USER && p === PASSWORD,
  lookupPassword: (u: string) => (u === USER ? PASSWORD : undefined),
};

const SCRIPT = `
import os, smtplib, ssl
s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), timeout=10)
s.ehlo("py.test")
if os.environ.get("CAFILE"):
    s.starttls(context=ssl.create_default_context(cafile=os.environ["CAFILE"]))
    s.ehlo("py.test")
print("AUTH", s.esmtp_features.get("auth", "").strip())
mech = os.environ["MECH"]
s.user, s.password = os.environ["SMTP_USER"], os.environ["SMTP_PASS"]
fn = {"PLAIN": s.auth_plain, "LOGIN": s.auth_login, "CRAM-MD5": s.auth_cram_md5}[mech]
code, _ = s.auth(mech, fn, initial_response_ok=os.environ.get("IR") == "1")
print("AUTH-RESULT", code)
s.sendmail("alice@example.test", ["bob@example.test"], "Subject: py\\r\\n\\r\\nhello from smtplib\\r\\n.dot line\\r\\n")
s.quit()
`;

function python(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("python3", ["-c", SCRIPT], { env: { ...process.env, ...env }, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let caFile = "";
let tlsConfig: { key: string; cert: string };
beforeAll(async () => {
  const certs = await testCertificates();
  tlsConfig = { key: certs.key, cert: certs.cert };
  caFile = join(mkdtempSync(join(tmpdir(), "saslkit-interop-")), "ca.pem");
  writeFileSync(caFile, certs.ca);
});

const servers: SmtpServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serverWith(mechanism: MechanismProvider, tls: boolean): Promise<SmtpServer> {
  const server = await SmtpServer.start({ mechanisms: [mechanism], callbacks, requireAuth: true, ...(tls ? { tls: tlsConfig, cleartext: "never" } : {}) });
  servers.push(server);
  return server;
}

describe("python smtplib against SmtpServer", () => {
  it.each([
    ["PLAIN", plain, "1", false],
    ["PLAIN", plain, "0", false],
    ["LOGIN", login, "0", false],
    ["LOGIN", login, "1", false],
    ["CRAM-MD5", cramMd5, "0", false],
    ["PLAIN", plain, "1", true],
    ["CRAM-MD5", cramMd5, "0", true],
  ] as const)("%s (initial response %s, STARTTLS %s) authenticates and delivers", async (name, provider, ir, tls) => {
    const server = await serverWith(provider, tls);
    const result = await python({ PORT: String(server.port), MECH: name, IR: ir, SMTP_USER: USER, SMTP_PASS: PASSWORD, ...(tls ? { CAFILE: caFile } : {}) });
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain(`AUTH ${name}`);
    expect(result.stdout).toContain("AUTH-RESULT 235");
    const message = server.messages.at(-1);
    expect(message?.envelope.auth).toEqual({ mechanism: name, identity: { authcid: USER, authzid: USER } });
    expect(message?.envelope.secure).toBe(tls);
    expect(message?.data.toString()).toBe("Subject: py\r\n\r\nhello from smtplib\r\n.dot line\r\n");
  });

  it.each([["PLAIN", plain], ["LOGIN", login], ["CRAM-MD5", cramMd5]] as const)("%s with a wrong password gets 535 5.7.8", async (name, provider) => {
    const server = await serverWith(provider, false);
    const result = await python({ PORT: String(server.port), MECH: name, IR: "0", SMTP_USER: USER, SMTP_PASS: "wrong-password" });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("SMTPAuthenticationError");
    expect(result.stderr).toContain("535");
    expect(result.stderr).toContain("5.7.8");
    expect(server.messages).toHaveLength(0);
  });

  it("submission by default: smtplib sending without logging in is refused with 530 5.7.0 (RFC 6409)", async () => {
    const server = await SmtpServer.start({ mechanisms: [plain], callbacks });
    servers.push(server);
    const script = `
import os, smtplib
s = smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), timeout=10)
try:
    s.sendmail("alice@example.test", ["bob@example.test"], "Subject: x\\r\\n\\r\\nno login\\r\\n")
except smtplib.SMTPSenderRefused as e:
    print("REFUSED", e.smtp_code, e.smtp_error.decode())
s.quit()
`;
    const result = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile("python3", ["-c", script], { env: { ...process.env, PORT: String(server.port) }, timeout: 15_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })),
    );
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain("REFUSED 530 5.7.0 Authentication required");
    expect(server.messages).toHaveLength(0);
  });
});

describe("saslkit's SmtpClient against SmtpServer: CHUNKING (RFC 3030) and DATA", () => {
  const raw = (body: string) => `From: alice@example.test\r\nTo: bob@example.test\r\nSubject: chunks\r\n\r\n${body}`;

  it.each([
    ["BDAT, in-memory body", true, false, "BDAT"],
    ["BDAT, streamed 1 MiB body", true, true, "BDAT"],
    ["DATA with chunking: false", false, false, "DATA"],
  ] as const)("%s: the message arrives byte for byte", async (_name, chunking, stream, transfer) => {
    const server = await SmtpServer.start({ mechanisms: [plain], callbacks });
    servers.push(server);
    const body = stream ? `${"line of text, then a dot line\r\n.\r\n".repeat(30_000)}end\r\n` : "hello\r\n.dot line\r\n";
    const client = await SmtpClient.connect({ host: "127.0.0.1", port: server.port, tls: "none", auth: { username: USER, password: PASSWORD }, mechanisms: [plain], chunking });
    try {
      const message = stream ? Readable.from([Buffer.from(raw(body))]) : raw(body);
      await client.send(message, { from: "alice@example.test", to: ["bob@example.test"] });
    } finally {
      await client.quit().catch(() => undefined);
    }
    const received = server.messages.at(-1)!;
    expect(received.envelope.transfer).toBe(transfer);
    expect(received.envelope.auth?.identity.authcid).toBe(USER);
    expect(received.data.toString()).toBe(raw(body));
  });
});


describe("saslkit's SmtpClient against SmtpServer: SMTPUTF8 (RFC 6531)", () => {
  it("a UTF-8 sender and recipient go out with SMTPUTF8 (offered by the server) and arrive unchanged", async () => {
    const server = await SmtpServer.start({ mechanisms: [plain], callbacks });
    servers.push(server);
    const client = await SmtpClient.connect({ host: "127.0.0.1", port: server.port, tls: "none", auth: { username: USER, password: PASSWORD }, mechanisms: [plain] });
    try {
      await client.send("Subject: ü\r\n\r\nhallo\r\n", { from: "jörg@bücher.test", to: ["bob@example.test", "ümlaut@example.test"] });
    } finally {
      await client.quit().catch(() => undefined);
    }
    const received = server.messages.at(-1)!;
    expect(received.envelope).toMatchObject({ mailFrom: "jörg@bücher.test", rcptTo: ["bob@example.test", "ümlaut@example.test"] });
    expect(received.envelope.mailParams.SMTPUTF8).toBe(true);
    expect(received.data.toString()).toBe("Subject: ü\r\n\r\nhallo\r\n");
  });
});
