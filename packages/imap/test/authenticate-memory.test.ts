/**
 * The AUTHENTICATE framing keeps only the last response carrying capabilities, as the other
 * commands do (review round 5): it kept every one, across attempts, so a flood of CAPABILITY
 * responses before the completion cost up to limits.commandBytes per attempt, held until the end;
 * and a failed attempt's capabilities stood for the authenticated ones when the next succeeded.
 */
import { Deadline, LineSocket } from "@saslkit/transport";
import { describe, expect, it } from "vitest";
import { ImapSaslExchange } from "../src/auth.js";
import { ImapCapabilities } from "../src/capabilities.js";
import { CommandBudget, ImapWire } from "../src/wire.js";
import { withServer } from "./helpers.js";

describe("IMAP AUTHENTICATE: a flood of CAPABILITY responses is not kept", () => {
  it("two attempts, each after 50 CAPABILITY responses: only the last one is kept", async () => {
    const flood = (n: number) => Array.from({ length: n }, (_, i) => `S: * CAPABILITY IMAP4rev1 X-${n}-${i}\n`).join("");
    const script = `C: A1 AUTHENTICATE X-ONE\n${flood(50)}S: A1 NO [CANNOT] no\nC: A2 AUTHENTICATE X-TWO\n${flood(51)}S: A2 OK in\n`;
    await withServer(script, async (server) => {
      const socket = await LineSocket.connect({ host: server.host, port: server.port });
      const deadline = () => Deadline.in(5000);
      const wire = new ImapWire(socket, {}, deadline);
      const exchange = new ImapSaslExchange({
        wire,
        capabilities: new ImapCapabilities(["IMAP4rev1"]),
        context: { deadline, sendsSecret: () => false, mutualAuth: () => false },
        budget: () => new CommandBudget(wire, "authenticate"),
      });
      expect((await exchange.begin("X-ONE", null)).type).toBe("failure");
      expect((await exchange.begin("X-TWO", null)).type).toBe("success");
      expect(exchange.untagged.map((u) => u.raw)).toEqual(["* CAPABILITY IMAP4rev1 X-51-50"]);
      socket.destroy();
    });
  });
});
