/** Client options for the scripted test servers, and a helper that expects an SmtpError. */
import { expect } from "vitest";
import type { ScriptedServer } from "@saslkit/test-kit";
import { SmtpError, type SmtpClientOptions } from "@saslkit/smtp";
import { all } from "./fixtures.js";

export const opts = (server: ScriptedServer, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: server.host,
  port: server.port,
  ehloName: "client.example.org",
  mechanisms: all,
  timeouts: { reply: 5000, data: 5000 },
  ...extra,
});

export async function failure(promise: Promise<unknown>): Promise<SmtpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SmtpError);
    return error as SmtpError;
  }
  throw new Error("expected an SmtpError");
}
