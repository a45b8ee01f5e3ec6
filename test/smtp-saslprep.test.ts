/**
 * The SMTP client's SASLprep opt-in (`prepare`, docs/decisions/0009): off by default (the bytes
 * as given), `"saslprep"` prepares PLAIN's user name and password. Scripted on 127.0.0.1; the
 * same against Dovecot submission is in dovecot-submission.test.ts.
 */
import { describe, expect, it } from "vitest";
import { startScriptedServer } from "@saslkit/test-kit";
import { plain } from "@saslkit/mech-plain";
import { SmtpClient, type SmtpClientOptions } from "@saslkit/smtp";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const script = (ir: string) => `S: 220 mx\nC: EHLO c.test\nS: 250-mx\nS: 250 AUTH PLAIN\nC: AUTH PLAIN ${ir}\nS: 235 ok\nC: QUIT\nS: 221 bye\n`;

async function login(password: string, expected: string, extra: Partial<SmtpClientOptions>) {
  const server = await startScriptedServer(script(b64(`\0u\0${expected}`)));
  const client = await SmtpClient.connect({ host: server.host, port: server.port, tls: "none", ehloName: "c.test", mechanisms: [plain], auth: { username: "u", password }, ...extra });
  expect(client.authenticatedWith).toBe("PLAIN");
  await client.quit();
  await server.done();
  await server.close();
}

describe("prepare: SASLprep for PLAIN is an opt-in", () => {
  it("by default the password goes as given (U+2168 stays U+2168)", () => login("\u2168", "\u2168", {}));
  it('with prepare: "saslprep" U+2168 (ROMAN NUMERAL NINE) goes as "IX"', () => login("\u2168", "IX", { prepare: "saslprep" }));
  it('with prepare: "saslprep" a soft hyphen is removed', () => login("I\u00ADX", "IX", { prepare: "saslprep" }));
  it("an unknown value is an invalid-option error", async () => {
    await expect(SmtpClient.connect({ host: "127.0.0.1", prepare: "SASLprep" } as unknown as SmtpClientOptions)).rejects.toMatchObject({ code: "invalid-option", option: "prepare" });
  });
});
