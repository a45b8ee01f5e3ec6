/**
 * Run-time validation of the server options: JavaScript callers pass them from JSON and
 * environment variables, so a wrong key or value is a named error, never a silent default.
 */
import { describe, expect, it } from "vitest";
import { SmtpServer, SmtpServerOptionError, type SmtpServerOptions } from "../src/index.js";
import { callbacks, fakePlain } from "./helpers.js";

const base = { mechanisms: [fakePlain], callbacks };

async function refusal(options: Record<string, unknown>): Promise<SmtpServerOptionError> {
  const error = await SmtpServer.start(options as unknown as SmtpServerOptions).then(
    (s) => {
      void s.close();
      throw new Error("started");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SmtpServerOptionError);
  return error as SmtpServerOptionError;
}

describe("server options are validated at run time", () => {
  it.each([
    [{ ...base, onMessage: () => undefined }, "onMessage", /use onData/],
    [{ ...base, secure: true }, "secure", /use implicitTls/],
    [{ ...base, requireTLS: true }, "requireTLS", /use requireTls/],
    [{ ...base, bareNewline: "strip" }, "bareNewline", /"normalize" or "reject"/],
    [{ ...base, cleartext: "yes" }, "cleartext", /"loopback", "never" or "allow"/],
    [{ ...base, maxConnectionsPerClient: 0 }, "maxConnectionsPerClient", /positive integer/],
    [{ ...base, requireAuth: "false" }, "requireAuth", /true or false/],
    [{ ...base, maxMessageBytes: "10MB" }, "maxMessageBytes", /positive integer/],
    [{ mechanisms: [fakePlain] }, "callbacks", /required/],
  ])("%o is refused naming %s", async (options, option, message) => {
    const error = await refusal(options);
    expect(error.code).toBe("invalid-option");
    expect(error.option).toBe(option);
    expect(error.message).toMatch(message);
  });

  it("requireAuth (the default) with no server half at all is refused: nobody could ever send", async () => {
    await expect(SmtpServer.start({ mechanisms: [], callbacks })).rejects.toThrow(/requireAuth: false for an open server/);
  });

  it("the former allowCleartextAuth is refused with its replacement, cleartext (pre-1.0: no deprecated names)", async () => {
    for (const value of [true, false]) {
      const error = await refusal({ ...base, allowCleartextAuth: value });
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe("allowCleartextAuth");
      expect(error.message).toMatch(/use cleartext: "allow" \(was true\) or "never" \(was false\)/);
    }
  });
});
