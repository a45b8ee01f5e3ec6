/**
 * Regression tests for the transport's connect errors.
 */
import dns from "node:dns";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { LineSocket } from "@saslkit/transport";
import { transportErrorCode } from "@saslkit/test-kit";

const original = dns.lookup;
afterEach(() => {
  dns.lookup = original;
});

/** A closed port on 127.0.0.1. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("implicit TLS to a name with several addresses", () => {
  it("is connect-failed, not tls-failed, when no address takes the TCP connection (Node's AggregateError has no syscall)", async () => {
    // "localhost" is ::1 and 127.0.0.1 on most machines; Node then tries each address in turn
    // (autoSelectFamily) and reports an AggregateError of their "connect" errors.
    const lookup = ((host: string, options: unknown, callback?: unknown) => {
      const cb = (typeof options === "function" ? options : callback) as (...args: unknown[]) => void;
      const o = (typeof options === "object" && options !== null ? options : {}) as { all?: boolean };
      if (host !== "dual.test") return (original as (...a: unknown[]) => void)(host, options, callback);
      return o.all ? cb(null, [{ address: "127.0.0.1", family: 4 }, { address: "127.0.0.2", family: 4 }]) : cb(null, "127.0.0.1", 4);
    }) as typeof dns.lookup;
    dns.lookup = lookup;
    const port = await closedPort();
    expect(await transportErrorCode(LineSocket.connect({ host: "dual.test", port }))).toBe("connect-failed");
    expect(await transportErrorCode(LineSocket.connect({ host: "dual.test", port, tls: {} }))).toBe("connect-failed");
  });
});
