/**
 * The DIGEST-MD5 server half inside the embedded SMTP server (@saslkit/smtp-server), with the
 * service name the server adapter hands in (`smtp`): our SmtpClient and GNU gsasl's network
 * client (`gsasl --smtp --connect`, independent of saslkit) authenticate and send; a wrong
 * password and a digest-uri naming another service or another host are refused, and a realm the server did not
 * offer is refused as such (535 and the reason in the server's log, not "response malformed").
 * Without gsasl the gsasl cases are skipped locally and FAIL under CI=true.
 */
import { execFile, spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import { SmtpServer } from "@saslkit/smtp-server";

const USER = "alice";
const PASSWORD = "digest-Secret-7";
const callbacks = { lookupPassword: (u: string) => (u === USER ? PASSWORD : u === "ümlaut" ? "pässwörd-ü" : undefined) };

const GSASL = process.env["SASLKIT_GSASL"] || "gsasl";
const gsaslAvailable = spawnSync(GSASL, ["--version"], { timeout: 5_000 }).status === 0;

const servers: SmtpServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(realms?: string[], log?: string[]): Promise<SmtpServer> {
  const s = await SmtpServer.start({
    hostname: "mx.example.test",
    mechanisms: [digestMd5],
    callbacks,
    requireAuth: true,
    ...(realms ? { mechanismOptions: { digestMd5: { realms } } } : {}),
    ...(log ? { transcript: (entry: { direction: string; text: string }) => log.push(`${entry.direction} ${entry.text}`) } : {}),
  });
  servers.push(s);
  return s;
}

/** The error a DIGEST-MD5 connect to `s` ends in (undefined when it succeeds); `extra` adds or overrides client options. */
function connectError(s: SmtpServer, extra: Partial<SmtpClientOptions> = {}): Promise<unknown> {
  return SmtpClient.connect({
    host: "127.0.0.1",
    port: s.port,
    tls: "none",
    auth: { username: USER, password: PASSWORD },
    mechanisms: [digestMd5],
    policy: { force: "DIGEST-MD5" },
    ...extra,
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
}

const raw = "From: alice@example.test\r\nTo: bob@example.test\r\nSubject: digest\r\n\r\nhello\r\n";

describe("SmtpClient against SmtpServer with DIGEST-MD5", () => {
  it.each([
    ["alice", USER, PASSWORD],
    ["a non-ASCII user", "ümlaut", "pässwörd-ü"],
  ])("%s authenticates (rspauth checked) and sends", async (_name, username, password) => {
    const s = await server();
    const client = await SmtpClient.connect({ host: "127.0.0.1", port: s.port, tls: "none", auth: { username, password }, mechanisms: [digestMd5], policy: { force: "DIGEST-MD5" } });
    try {
      expect(client.authenticatedWith).toBe("DIGEST-MD5");
      await client.send(raw, { from: "alice@example.test", to: ["bob@example.test"] });
    } finally {
      await client.quit();
    }
    expect(s.messages.at(-1)?.envelope.auth).toEqual({ mechanism: "DIGEST-MD5", identity: { authcid: username, authzid: username } });
  });

  it("a wrong password gets 535 and no message", async () => {
    const s = await server();
    const error = await connectError(s, { auth: { username: USER, password: "wrong" } });
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).toBe("authentication-failed");
    expect(s.messages).toHaveLength(0);
  });

  it("a realm the server did not offer is refused with that reason: 535, not 501 malformed", async () => {
    const log: string[] = [];
    const s = await server(["example.test"], log);
    const error = await connectError(s, { mechanismOptions: { digestMd5: { realm: "elsewhere.test" } } });
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).toBe("authentication-failed");
    expect((error as SmtpError).reply?.code).toBe(535);
    expect(log.join("\n")).toContain("AUTH DIGEST-MD5 failed: wrong credentials (DIGEST-MD5: the realm is not one the server offered.)");
    expect(log.join("\n")).not.toContain("response malformed");
    expect(s.messages).toHaveLength(0);
  });

  it("a digest-uri naming another service is refused (the server knows it is smtp)", async () => {
    const s = await server();
    const error = await connectError(s, { mechanismOptions: { digestMd5: { service: "imap" } } });
    expect(error).toBeInstanceOf(SmtpError);
    expect(s.messages).toHaveLength(0);
  });

  it("a digest-uri naming another host is refused the same way; the server's own name and the loopback address pass", async () => {
    const s = await server();
    const wrongService = (await connectError(s, { mechanismOptions: { digestMd5: { service: "imap" } } })) as SmtpError;
    const wrongHost = (await connectError(s, { mechanismOptions: { digestMd5: { host: "evil.example" } } })) as SmtpError;
    expect(wrongHost).toBeInstanceOf(SmtpError);
    expect(wrongHost.code).toBe(wrongService.code);
    expect(wrongHost.reply?.code).toBe(wrongService.reply?.code);
    expect(await connectError(s, { mechanismOptions: { digestMd5: { host: "mx.example.test" } } })).toBeUndefined();
    expect(await connectError(s)).toBeUndefined(); // digest-uri smtp/127.0.0.1 on a loopback connection
    expect(s.messages).toHaveLength(0);
  });

  it("mechanismOptions.digestMd5.hosts replaces the default names", async () => {
    const s = await SmtpServer.start({ hostname: "mx.example.test", mechanisms: [digestMd5], callbacks, requireAuth: true, mechanismOptions: { digestMd5: { hosts: ["mail.example.test"] } } });
    servers.push(s);
    expect(await connectError(s, { mechanismOptions: { digestMd5: { host: "mail.example.test" } } })).toBeUndefined();
    expect(await connectError(s)).toBeInstanceOf(SmtpError);
  });
});

function gsaslSmtp(port: number, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      GSASL,
      ["--smtp", `--connect=127.0.0.1:${port}`, "--quiet", "-m", "DIGEST-MD5", "--hostname=localhost", "--quality-of-protection=qop-auth", ...args],
      { timeout: 15_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

if (!gsaslAvailable && process.env["CI"] === "true") {
  describe("DIGEST-MD5 gsasl network interop (required under CI)", () => {
    it("gsasl is installed", () => {
      expect.fail("gsasl is not installed, and CI=true requires the interop suite: install it (test/servers/install.sh, apt-get install gsasl).");
    });
  });
}

describe.skipIf(!gsaslAvailable)("gsasl --smtp against SmtpServer with DIGEST-MD5", () => {
  it("authenticates with the realm the server offers and checks our rspauth", async () => {
    const s = await server(["example.test"]);
    const result = await gsaslSmtp(s.port, ["-a", USER, "-p", PASSWORD, "--realm=example.test", "--service=smtp"]);
    expect(result.code, result.stderr).toBe(0);
  });

  it("a wrong password fails", async () => {
    const s = await server(["example.test"]);
    const result = await gsaslSmtp(s.port, ["-a", USER, "-p", "wrong", "--realm=example.test", "--service=smtp"]);
    expect(result.code).not.toBe(0);
  });

  it("another service in digest-uri fails", async () => {
    const s = await server(["example.test"]);
    const result = await gsaslSmtp(s.port, ["-a", USER, "-p", PASSWORD, "--realm=example.test", "--service=imap"]);
    expect(result.code).not.toBe(0);
  });
});
