/**
 * @saslkit/smtp with the real mechanism packages (the SMTP package itself depends on none), over
 * recorded RFC transcripts, with mechanisms taken from a tsyringe child container.
 */
import { readFileSync } from "node:fs";
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { registerLogin } from "@saslkit/mech-login";
import { registerPlain } from "@saslkit/mech-plain";
import { SmtpClient, type SmtpClientOptions } from "@saslkit/smtp";
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
});
