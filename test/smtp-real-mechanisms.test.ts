/**
 * @saslkit/smtp with the real mechanism packages (the SMTP package itself depends on none), over
 * recorded RFC transcripts, with mechanisms taken from a tsyringe child container.
 */
import { readFileSync } from "node:fs";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { registerLogin } from "@saslkit/mech-login";
import { registerPlain } from "@saslkit/mech-plain";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import { type TranscriptEntry } from "@saslkit/transport";
import { startScriptedServer, testCertificates, type ScriptedServer } from "@saslkit/test-kit";

const transcript = (name: string) => readFileSync(new URL(`../packages/smtp/test/transcripts/${name}`, import.meta.url), "utf8");

function mechanisms() {
  const child = container.createChildContainer();
  // Registration order must not matter: LOGIN first, PLAIN still wins on priority.
  registerLogin(child);
  registerPlain(child);
  return child;
}

const opts = (server: ScriptedServer, extra: Partial<SmtpClientOptions>): SmtpClientOptions => ({
  host: server.host,
  port: server.port,
  ehloName: "client.example.org",
  mechanisms: mechanisms(),
  timeouts: { reply: 5000, data: 5000 },
  ...extra,
});

describe("SMTP with the real mechanism packages", () => {
  it("RFC 4954 §9 PLAIN IR after STARTTLS, byte for byte", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer(transcript("rfc4954-plain-ir-starttls.txt"), { tls: certs });
    const lines: TranscriptEntry[] = [];
    const client = await SmtpClient.connect(opts(server, { tlsOptions: { ca: certs.ca }, auth: { authzid: "test", username: "test", password: "1234" }, transcript: (e) => lines.push(e) }));
    expect(client.authenticatedWith).toBe("PLAIN");
    await client.quit();
    await server.done();
    expect(JSON.stringify(lines)).not.toContain("dGVzdAB0ZXN0ADEyMzQ=");
    await server.close();
  });

  it("LOGIN draft example with the draft's own prompts", async () => {
    const server = await startScriptedServer(transcript("login-draft-prompts.txt"));
    const client = await SmtpClient.connect(opts(server, { auth: { username: "tim", password: "tanstaaftanstaaf" } }));
    expect(client.authenticatedWith).toBe("LOGIN");
    await client.quit();
    await server.done();
    await server.close();
  });

  it("PLAIN is preferred over LOGIN whatever the registration order; the negotiation is reported", async () => {
    const server = await startScriptedServer(
      "S: 220 mx\nC: EHLO client.example.org\nS: 250-mx\nS: 250 AUTH LOGIN PLAIN CRAM-MD5\nC: AUTH PLAIN AHUAcA==\nS: 235 2.7.0 ok\nC: QUIT\nS: 221 bye\n",
    );
    const client = await SmtpClient.connect(opts(server, { auth: { username: "u", password: "p" } }));
    expect(client.negotiation).toMatchObject({ offered: ["LOGIN", "PLAIN", "CRAM-MD5"], candidates: ["PLAIN", "LOGIN"], chosen: "PLAIN" });
    expect(client.negotiation?.refused).toContainEqual(expect.objectContaining({ mechanism: "CRAM-MD5", reason: "not-installed" }));
    await client.quit();
    await server.done();
    await server.close();
  });

  describe("a hostile empty 334 after PLAIN's message gets no second copy of the password", () => {
    const password = "hunter2-secret-pw";
    const b64 = Buffer.from(`\0u\0${password}`).toString("base64");
    const hello = "S: 220 mx\nC: EHLO client.example.org\nS: 250-mx\nS: 250 AUTH PLAIN\n";
    const cases: [string, string, string][] = [
      ["after the initial response on the AUTH line", password, `C: AUTH PLAIN ${b64}\nS: 334 \n`],
      // 600 characters: too long for the 512-octet AUTH line, so the driver defers it to the first 334.
      ["after the deferred initial response", "p".repeat(600), ""],
    ];
    it.each(cases)("%s: the client cancels with *, the error is typed", async (_name, pw, opening) => {
      const encoded = Buffer.from(`\0u\0${pw}`).toString("base64");
      const script = opening || `C: AUTH PLAIN\nS: 334 \nC: ${encoded}\nS: 334 \n`;
      const server = await startScriptedServer(`${hello}${script}C: *\nS: 501 5.7.0 cancelled\nC: QUIT\nS: 221 bye\n`);
      const lines: TranscriptEntry[] = [];
      const error = (await SmtpClient.connect(opts(server, { auth: { username: "u", password: pw }, transcript: (e) => lines.push(e) })).catch((e: unknown) => e)) as SmtpError;
      expect(error).toBeInstanceOf(SmtpError);
      expect(error).toMatchObject({ phase: "authenticate", code: "bad-state" });
      expect(error.saslError).toMatchObject({ mechanism: "PLAIN", code: "bad-state", secretSent: true });
      await server.done();
      await server.close();
      const sent = server.flow.filter((e) => e.direction === "C").map((e) => e.text);
      expect(sent.filter((text) => text.includes(encoded))).toHaveLength(1);
      expect(sent.filter((text) => text.includes(pw))).toHaveLength(0);
      const shown = `${error.message} ${JSON.stringify(lines)}`;
      expect(shown).not.toContain(encoded);
      expect(shown).not.toContain(b64);
    });
  });
});
