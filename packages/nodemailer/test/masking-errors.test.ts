/**
 * Regression tests for the masking of nodemailer's own errors and results: a server
 * that repeats a password in a reply nodemailer keeps somewhere other than an error's message.
 */
import { plain } from "@saslkit/mech-plain";
import { saslkit } from "@saslkit/nodemailer";
import { Masking } from "../src/masking.js";
import { startScriptedServer } from "@saslkit/test-kit";
import nodemailer from "nodemailer";
import { describe, expect, it } from "vitest";

const USER = "alice";
const PASS = "Tr0ub4dor&3-secret";

function assertNoSecret(texts: readonly string[], secret = PASS): void {
  const b64 = Buffer.from(secret).toString("base64");
  for (const text of texts) for (const form of [secret, b64.replace(/=+$/, "")]) expect(text, `carries "${form}"`).not.toContain(form);
}

const opening = (auth: string): string => `S: 220 mail.example.test ESMTP
C: EHLO *
S: 250-mail.example.test
S: 250 AUTH ${auth}
C: EHLO *
S: 250-mail.example.test
S: 250 AUTH ${auth}
`;

const message = (tag: string, to: string | string[] = "bob@example.test") => ({ from: `${USER}@example.test`, to, subject: tag, text: `body of ${tag}` });

describe("nodemailer's errors and results keep a repeated password masked", () => {
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
    const b64 = Buffer.from(PASS).toString("base64");
    const scripted = await startScriptedServer(`${opening("PLAIN")}C: AUTH PLAIN *
S: 235 2.7.0 ok
C: MAIL FROM:<alice@example.test>
S: 550 5.7.1 not you, ${b64} ${PASS}
C: RSET
S: 250 ok
`);
    const transport = nodemailer.createTransport(saslkit({ pool: true, host: "127.0.0.1", port: scripted.port, ignoreTLS: true, auth: { user: USER, pass: PASS } }, { mechanisms: [plain] }));
    const error = (await transport.sendMail(message("pool-mail-echo")).catch((e: unknown) => e)) as Error & { code?: string; response?: string };
    transport.close();
    await scripted.close();
    expect(error.code).toBe("EENVELOPE");
    assertNoSecret([error.message, String(error.response), String(error.stack)]);
  });
});

describe("the transport's masking, one password beginning another", () => {
  const transportPass = "Summer2024!xyz";
  const messagePass = "Summer2024!";
  const leaks = (text: string) => [transportPass, Buffer.from(transportPass).toString("base64"), "xyz", "F4eXo"].filter((form) => text.includes(form));

  it("a recent per-message password that begins the transport's does not leave the transport password's tail readable (raw or base64)", () => {
    const masking = new Masking();
    masking.addLasting(transportPass);
    masking.addRecent(messagePass);
    expect(leaks(masking.redact(`550 ${transportPass} ${Buffer.from(transportPass).toString("base64")}`))).toEqual([]);
  });

  it("nor does a login's redactor while that login runs", () => {
    const masking = new Masking();
    masking.addLasting(transportPass);
    const login = masking.begin();
    login.addSecret(messagePass);
    expect(leaks(masking.redact(login.redact(`535 ${transportPass} ${Buffer.from(transportPass).toString("base64")}`)))).toEqual([]);
    masking.end(login);
  });
});
