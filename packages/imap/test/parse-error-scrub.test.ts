/**
 * A server that echoes the password where the client quotes the server's text: a malformed line
 * (quoted, clipped, in the protocol error), a BYE during AUTHENTICATE, a tag (review round 5).
 */
import { describe, expect, it } from "vitest";
import { ImapClient, type ImapError } from "../src/index.js";
import { PASSWORD, PLAIN_B64, withServer, base, expectImapError } from "./helpers.js";

const greeting = "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready";
const shown = (error: ImapError, lines: readonly string[]) =>
  `${error.message}\n${JSON.stringify(error.reply)}\n${String(error.stack)}\n${String((error.cause as Error | undefined)?.message)}\n${lines.join("\n")}`;

describe("IMAP: the password echoed in the server's text never reaches errors or transcripts", () => {
  it("a malformed line quoting the password where the error's clip cuts it: no part of it is shown", async () => {
    // "A1 XYZZY " and the padding take 112 characters: the clip at 117 kept "Pa55-" unredacted.
    const line = `A1 XYZZY ${"x".repeat(103)}${PASSWORD} and more text after it`;
    const lines: string[] = [];
    await withServer(`${greeting}\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: ${line}\n!stall\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("protocol-error");
      expect(error.message).toContain("Malformed tagged IMAP response");
      expect(shown(error, lines)).not.toContain("Pa55-");
    });
  });

  it("BYE during AUTHENTICATE with the password, its base64 and the PLAIN message: all masked", async () => {
    const b64 = Buffer.from(PASSWORD).toString("base64");
    const lines: string[] = [];
    await withServer(`${greeting}\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: * BYE [UNAVAILABLE] bad ${PASSWORD} ${b64} ${PLAIN_B64}\n!stall\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("temporary-failure");
      const text = shown(error, lines);
      expect(text).toContain("bad ****");
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(b64.slice(0, 12));
      expect(text).not.toContain(PLAIN_B64);
    });
  });

  it("a completion whose tag is the password: protocol-error, the tag masked", async () => {
    await withServer(`${greeting}\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: ${PASSWORD} OK yes\n!stall\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port)));
      expect(error.code).toBe("protocol-error");
      expect(shown(error, [])).not.toContain(PASSWORD);
    });
  });
});
