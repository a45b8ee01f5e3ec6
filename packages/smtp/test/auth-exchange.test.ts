import { describe, expect, it } from "vitest";
import { Redactor } from "@saslkit/transport";
import { SmtpSaslExchange } from "../src/auth.js";
import type { SmtpReply } from "../src/reply.js";

const SECRET = "hunter2-echo-secret";

/** An exchange over a channel that answers every command with `reply`, redacting with a real Redactor. */
function exchangeAnswering(reply: SmtpReply): { exchange: SmtpSaslExchange; redactor: Redactor } {
  const redactor = new Redactor();
  redactor.addSecret(SECRET);
  const exchange = new SmtpSaslExchange({
    command: async () => reply,
    payload: (base64) => redactor.addPayload(base64),
    redact: (text) => redactor.redact(text),
  });
  return { exchange, redactor };
}

const reply = (code: number, text: string): SmtpReply => ({ code, lines: [`${code} ${text}`], text });

describe("SmtpSaslExchange: server text is redacted whenever it is shown, however late", () => {
  it("a 235 that echoes the secret: the success event's reply and lastReply are masked", async () => {
    const { exchange } = exchangeAnswering(reply(235, `ok ${SECRET}`));
    const event = await exchange.begin("PLAIN", new TextEncoder().encode(`\0u\0${SECRET}`));
    expect(event.type).toBe("success");
    expect(event.type === "success" && event.reply?.text).toBe("ok ****");
    expect(exchange.lastReply?.text).toBe("ok ****");
    expect(exchange.lastReply?.lines).toEqual(["235 ok ****"]);
    expect(exchange.lastCommand).toBe("AUTH PLAIN ****");
  });

  it("a 535 that echoes the exact AUTH payload: the failure's reply is masked", async () => {
    const payload = Buffer.from(`\0u\0${SECRET}`).toString("base64");
    const { exchange } = exchangeAnswering(reply(535, `bad ${payload}`));
    const event = await exchange.begin("PLAIN", new TextEncoder().encode(`\0u\0${SECRET}`));
    expect(event).toMatchObject({ type: "failure", code: "authentication-failed", reply: { status: "535", text: "bad ****" } });
    expect(exchange.lastReply?.text).toBe("bad ****");
  });

  it("a secret learnt after the reply arrived is masked in lastReply too", async () => {
    const { exchange, redactor } = exchangeAnswering(reply(235, "ok late-secret-value"));
    await exchange.begin("PLAIN", null);
    redactor.addSecret("late-secret-value");
    expect(exchange.lastReply?.text).toBe("ok ****");
  });

  it("a channel that throws synchronously gives a rejection, not a throw", async () => {
    const exchange = new SmtpSaslExchange({
      command: () => {
        throw new Error("gone");
      },
    });
    const started = exchange.begin("PLAIN", null);
    expect(started).toBeInstanceOf(Promise);
    await expect(started).rejects.toThrow("gone");
  });
});
