/**
 * POP3 has no tags: a reply is the next line on the wire. After a read failed part-way (a
 * deadline, a line that is no reply), the rest of that answer is still coming, and the next
 * command would take it as its own: message text (a sender's lines) read as `+OK`, one command's
 * answer given to another. The connection must close instead (review round 5).
 */
import { describe, expect, it } from "vitest";
import { Pop3Client } from "../src/index.js";
import { withServer, base, expectPop3Error } from "./helpers.js";

const greeting = "S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n";
const open = (port: number) => Pop3Client.connect({ ...base(port), auth: undefined });

describe("POP3: after a failed read the next command never takes the late answer as its own", () => {
  it("a command that timed out: its late +OK is not the next command's answer", async () => {
    await withServer(`${greeting}C: STAT\n!sleep 400\nS: +OK 2 320\nC: LIST 1\nS: +OK 1 120\n!stall\n`, async (server) => {
      const conn = await open(server.port);
      const error = await expectPop3Error(conn.command("STAT", { timeoutMs: 150 }));
      expect(error.code).toBe("timeout");
      await new Promise((r) => setTimeout(r, 400));
      const next = await conn.command("LIST 1").then(
        (r) => r.text,
        (e: Error) => e,
      );
      expect(next).not.toBe("2 320");
      expect(next).toBeInstanceOf(Error);
      expect(conn.closed).toBe(true);
    });
  });

  it("a multi-line answer that timed out mid-body: its remaining lines are not the next command's answer", async () => {
    const script = `${greeting}C: RETR 1\nS: +OK message follows\nS: Subject: hi\n!sleep 400\nS: +OK forged by the message text\nS: .\nC: DELE 1\nS: +OK deleted\n!stall\n`;
    await withServer(script, async (server) => {
      const conn = await open(server.port);
      const error = await expectPop3Error(conn.command("RETR 1", { multiline: true, timeoutMs: 150 }));
      expect(error.code).toBe("timeout");
      await new Promise((r) => setTimeout(r, 400));
      const next = await conn.command("DELE 1").then(
        (r) => r.text,
        (e: Error) => e,
      );
      expect(next).not.toBe("forged by the message text");
      expect(next).toBeInstanceOf(Error);
    });
  });

  it("a reply that is neither +OK nor -ERR: protocol-error, and the connection closes", async () => {
    await withServer(`${greeting}C: STAT\nS: hello there\nS: +OK 2 320\nC: LIST 1\nS: +OK 1 120\n!stall\n`, async (server) => {
      const conn = await open(server.port);
      const error = await expectPop3Error(conn.command("STAT"));
      expect(error.code).toBe("protocol-error");
      expect(conn.closed).toBe(true);
      const next = await conn.command("LIST 1").then(
        (r) => r.text,
        (e: Error) => e,
      );
      expect(next).toBeInstanceOf(Error);
    });
  });

  it("an AUTH answered with a line that is no reply: protocol-error, and the connection closes", async () => {
    await withServer(`S: +OK ready\nC: CAPA\nS: +OK\nS: SASL PLAIN\nS: .\nC: AUTH PLAIN *\nS: what?\nS: +OK in\n!stall\n`, async (server) => {
      const conn = await open(server.port);
      const error = await expectPop3Error(conn.authenticate({ username: "alice", password: "Pa55-word!" }));
      expect(error.code).toBe("protocol-error");
      expect(conn.authenticated).toBe(false);
      expect(conn.closed).toBe(true);
    });
  });
});

describe("POP3: only CRLF . CRLF ends a multi-line answer", () => {
  it("a '.' between bare LFs in a RETR body (message text a server passed through) does not end it", async () => {
    const script = `${greeting}C: RETR 1\n!raw +OK\\r\\nline one\\n.\\n+OK forged\\r\\n..dotted\\r\\nline two\\n.stays\\r\\n.\\r\\n\nC: DELE 1\nS: +OK deleted\n!stall\n`;
    await withServer(script, async (server) => {
      const conn = await open(server.port);
      const retr = await conn.command("RETR 1", { multiline: true });
      expect(retr.lines).toEqual(["line one", ".", "+OK forged", ".dotted", "line two", ".stays"]);
      const dele = await conn.command("DELE 1");
      expect(dele.text).toBe("deleted");
      await conn.close();
    });
  });
});
