import { describe, expect, it } from "vitest";
import { Deadline, LineSocket } from "@saslkit/transport";
import { matchesExpected, parseScript, startScriptedServer, transportErrorCode } from "@saslkit/test-kit";

describe("script parsing", () => {
  it("parses every step kind and keeps trailing spaces of S lines", () => {
    const steps = parseScript("# comment\nS: 334 \nC: AUTH PLAIN *\n!drip 5\n!sleep 10\n!raw 0x0d0a\n!raw a\\r\\n\n!starttls\n!stall\n!close\nS:\n");
    expect(steps).toEqual([
      { kind: "send", text: "334 " },
      { kind: "expect", text: "AUTH PLAIN *" },
      { kind: "drip", delayMs: 5 },
      { kind: "sleep", ms: 10 },
      { kind: "raw", bytes: Buffer.from("\r\n") },
      { kind: "raw", bytes: Buffer.from("a\r\n") },
      { kind: "starttls" },
      { kind: "stall" },
      { kind: "close" },
      { kind: "send", text: "" },
    ]);
    expect(() => parseScript("X: nope")).toThrow(/not a step/);
  });
  it("matches wildcards, and C: * only as the literal cancel line", () => {
    expect(matchesExpected("AUTH PLAIN *", "AUTH PLAIN AGZvbwBiYXI=")).toBe(true);
    expect(matchesExpected("AUTH PLAIN *", "AUTH LOGIN")).toBe(false);
    expect(matchesExpected("*", "*")).toBe(true);
    expect(matchesExpected("*", "QUIT")).toBe(false);
    expect(matchesExpected("A \\*", "A *")).toBe(true);
    expect(matchesExpected("A \\*", "A b")).toBe(false);
  });
});

describe("scripted server", () => {
  it("fails the script on the first mismatch", async () => {
    const server = await startScriptedServer("S: 220 hi\nC: EHLO a\nS: 250 ok\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    await line.readLine(Deadline.in(5000));
    await line.writeLine("HELO a");
    await expect(server.done()).rejects.toThrow(/expected "C: EHLO a", got "C: HELO a"/);
    expect(await transportErrorCode(line.readLine(Deadline.in(5000)))).toBe("closed");
    await server.close();
  });

  it("counts round trips from arrival order", async () => {
    const server = await startScriptedServer("S: 220 hi\nC: A\nS: 1\nC: B\nC: C\nS: 2\nS: 3\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    const d = Deadline.in(5000);
    await line.readLine(d);
    await line.writeLine("A");
    await line.readLine(d);
    await line.write("B\r\nC\r\n"); // pipelined: one round trip
    await line.readLine(d);
    await line.readLine(d);
    await server.done();
    expect(server.received).toEqual(["A", "B", "C"]);
    expect(server.roundTrips()).toBe(2);
    await line.close();
    await server.close();
  });
});
