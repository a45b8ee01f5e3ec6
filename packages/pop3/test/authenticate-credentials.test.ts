/**
 * Credentials given to authenticate() after a connect() without them obey connect()'s rule for
 * `auth` (review round 5): a number password was sent as PASS 12345678 and, never registered as
 * a secret, its echo reached the error and the transcript.
 */
import { describe, expect, it } from "vitest";
import { Pop3Client } from "../src/index.js";
import { withServer, base, expectPop3Error } from "./helpers.js";

describe("POP3: authenticate()'s credentials are checked as connect()'s", () => {
  it("authenticate({ password: 12345678 }): invalid-option, no PASS sent, nothing echoed", async () => {
    await withServer("S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\nC: USER alice\nS: +OK\nC: PASS 12345678\nS: -ERR [AUTH] bad password 12345678\n!stall\n", async (server) => {
      const lines: string[] = [];
      const conn = await Pop3Client.connect({ ...base(server.port), auth: undefined, login: "user", transcript: (e) => lines.push(e.text) });
      const error = await expectPop3Error(conn.authenticate({ username: "alice", password: 12345678 } as never));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe("auth.password");
      expect(server.received).toEqual(["CAPA"]);
      expect(`${error.message}\n${lines.join("\n")}`).not.toContain("12345678");
      await conn.close();
    });
  });
});

describe("POP3: a password function that yields no string is an error, never sent", () => {
  it.each([["user" as const, "C: USER alice\nS: +OK\nC: PASS 12345678\n"], ["apop" as const, "C: APOP alice *\n"]])("login %s with password: () => 12345678: invalid-credentials-input, the number not sent", async (login, steps) => {
    await withServer(`S: +OK ready <1.2@x>\nC: CAPA\nS: +OK\nS: USER\nS: .\n${steps}S: -ERR [AUTH] bad password 12345678\n!stall\n`, async (server) => {
      const lines: string[] = [];
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), auth: { username: "alice", password: (() => 12345678) as never }, login, transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("invalid-credentials-input");
      expect(server.received.join("\n")).not.toContain("12345678");
      expect(server.received.some((l) => l.startsWith("PASS") || l.startsWith("APOP"))).toBe(false);
      expect(`${error.message}\n${lines.join("\n")}`).not.toContain("12345678");
    });
  });
});
