/**
 * An in-memory BDAT message (MAIL, RCPT, `BDAT <n> LAST` and
 * the body in one write) whose connection ends after a reply that proves the message was not
 * taken is no "outcome unknown": it was not sent, and may be sent again (as after DATA).
 */
import { describe, expect, it } from "vitest";
import { startScriptedServer } from "@saslkit/test-kit";
import { SmtpClient, SmtpError } from "@saslkit/smtp";

const base = { ehloName: "client.example.org", mechanisms: [], timeouts: { reply: 5000, data: 5000 } };
const HELLO = "S: 220 mx\nC: EHLO client.example.org\nS: 250-mx\nS: 250-PIPELINING\nS: 250 CHUNKING\n";
const message = Buffer.from("Subject: s\r\n\r\nhello\r\n");

async function sendTo(script: string, to: string[]): Promise<unknown> {
  const server = await startScriptedServer(`${HELLO}${script}`);
  const client = await SmtpClient.connect({ host: server.host, port: server.port, ...base });
  const error = await client.send(message, { from: "a@example.com", to }).then(() => undefined, (e: unknown) => e);
  await server.close();
  return error;
}

describe("an in-memory BDAT message whose link ends early", () => {
  it("421 to MAIL, then the server hangs up (Postfix's rate limit): closed, not outcome-unknown", async () => {
    const error = await sendTo("C: MAIL FROM:<a@example.com>\nS: 421 4.7.0 mx Error: too much mail from 127.0.0.1\n!close\n", ["b@example.com"]);
    expect(error).toBeInstanceOf(SmtpError);
    expect((error as SmtpError).code).not.toBe("outcome-unknown");
    expect((error as SmtpError).envelope).toEqual({ from: "a@example.com", to: ["b@example.com"] });
  });

  it("every recipient refused, then the server hangs up before answering BDAT: not outcome-unknown", async () => {
    const error = await sendTo("C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 550 5.1.1 no such user\nC: RCPT TO:<c@example.com>\nS: 421 4.3.2 shutting down\n!close\n", ["b@example.com", "c@example.com"]);
    expect((error as SmtpError).code).not.toBe("outcome-unknown");
  });

  it("MAIL and RCPT accepted, then the link drops before the BDAT reply: still outcome-unknown (the server may have taken it)", async () => {
    const error = await sendTo("C: MAIL FROM:<a@example.com>\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\n!close\n", ["b@example.com"]);
    expect((error as SmtpError).code).toBe("outcome-unknown");
  });
});
