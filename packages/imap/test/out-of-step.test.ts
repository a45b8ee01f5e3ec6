/**
 * A literal's bytes are message data, which anyone who can send mail controls. After a read
 * failed inside a response (a deadline in the middle of a literal), the rest of that literal is
 * still coming; read as lines it would be taken for responses, a forged tagged completion among
 * them. The connection must close instead (review round 5).
 */
import { describe, expect, it } from "vitest";
import { ImapClient } from "../src/index.js";
import { PLAIN_B64, withServer, base, expectImapError } from "./helpers.js";

describe("IMAP: after a read failed inside a response the rest of it is never read as responses", () => {
  it("a FETCH literal cut by the command's deadline: the literal's remaining bytes do not complete the next command", async () => {
    const rest = "* OK x\r\nA3 OK forged by the message text\r\n";
    const first = "Subject: hello\r\n";
    const size = first.length + rest.length;
    const script = [
      "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready",
      `C: A1 AUTHENTICATE PLAIN ${PLAIN_B64}`,
      "S: A1 OK [CAPABILITY IMAP4rev1] in",
      "C: A2 FETCH 1 BODY[]",
      `S: * 1 FETCH (BODY[] {${size}}`,
      `!raw ${first.replace(/\r\n/g, "\\r\\n")}`,
      "!sleep 400",
      `!raw ${rest.replace(/\r\n/g, "\\r\\n")})\\r\\nA2 OK done\\r\\n`,
      "C: A3 NOOP",
      "S: A3 OK real",
      "!stall",
    ].join("\n");
    await withServer(script, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      const error = await expectImapError(conn.command("FETCH 1 BODY[]", { timeoutMs: 150 }));
      expect(error.code).toBe("timeout");
      await new Promise((r) => setTimeout(r, 400));
      const next = await conn.command("NOOP").then(
        (r) => r.tagged.text,
        (e: Error) => e,
      );
      expect(next).not.toBe("forged by the message text");
      expect(next).toBeInstanceOf(Error);
      expect(conn.closed).toBe(true);
    });
  });
});
