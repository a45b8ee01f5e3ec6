/**
 * Credentials given to authenticate() after a connect() without them obey connect()'s rule for
 * `auth` (review round 5): a number password was sent (`String(12345678)`) and, never registered
 * as a secret, its echo reached the error and the transcript.
 */
import { describe, expect, it } from "vitest";
import { ImapClient } from "../src/index.js";
import { withServer, base, expectImapError } from "./helpers.js";

describe("IMAP: authenticate()'s credentials are checked as connect()'s", () => {
  it.each([
    [{ username: "alice", password: 12345678 }, "auth.password"],
    [{ user: "alice", password: "Pa55-word!" }, "auth.user"],
    ["alice", "auth"],
  ])("authenticate(%j): invalid-option (%s), nothing sent", async (auth, option) => {
    await withServer("S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN *\nS: A1 NO [AUTHENTICATIONFAILED] bad password 12345678\n!stall\n", async (server) => {
      const lines: string[] = [];
      const conn = await ImapClient.connect({ ...base(server.port), auth: undefined, transcript: (e) => lines.push(e.text) });
      const error = await expectImapError(conn.authenticate(auth as never));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(server.received).toEqual([]);
      expect(`${error.message}\n${lines.join("\n")}`).not.toContain("12345678");
      await conn.close();
    });
  });
});

describe("IMAP: a password function that yields no string is an error, never sent", () => {
  it("AUTHENTICATE PLAIN with password: () => 12345678: invalid-credentials-input, nothing sent", async () => {
    await withServer("S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN *\nS: A1 NO [AUTHENTICATIONFAILED] bad password 12345678\n!stall\n", async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), auth: { username: "alice", password: (() => 12345678) as never }, login: "never" }));
      expect(error.code).toBe("invalid-credentials-input");
      expect(server.received).toEqual([]);
    });
  });

  it("LOGIN with password: () => 12345678: invalid-credentials-input, nothing sent (was a TypeError reported as protocol-error)", async () => {
    await withServer('S: * OK [CAPABILITY IMAP4rev1] ready\nC: A1 LOGIN "alice" *\nS: A1 NO [AUTHENTICATIONFAILED] bad\n!stall\n', async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), auth: { username: "alice", password: (() => 12345678) as never }, login: "only" }));
      expect(error.code).toBe("invalid-credentials-input");
      expect(server.received).toEqual([]);
    });
  });
});
