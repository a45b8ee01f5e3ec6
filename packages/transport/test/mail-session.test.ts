import net from "node:net";
import { describe, expect, it } from "vitest";
import type { Credentials, CredentialsInput } from "@saslkit/core";
import { LineSocket, MailProtocolError, MailSession, type MailClientOptions, type MailProtocol } from "@saslkit/transport";

class TestError extends MailProtocolError<"connect" | "starttls", string> {
  override readonly name = "TestError";
  static override readonly protocol = "TEST";
}

const PROTOCOL: MailProtocol<"connect" | "starttls", TestError> = {
  service: "test",
  ports: { plain: 1, implicit: 2 },
  options: {},
  error: (phase, code, message, options) => new TestError(phase, code, message, options),
  isError: (v): v is TestError => v instanceof TestError,
};

/** A session over a socket that claims to be connected to `remote` (no traffic). */
class Probe extends MailSession<"connect" | "starttls", TestError> {
  constructor(options: MailClientOptions, remote: string) {
    const raw = new net.Socket();
    Object.defineProperty(raw, "remoteAddress", { get: () => remote });
    super(LineSocket.accept(raw), options, PROTOCOL, 143);
    raw.destroy();
  }
  protected async open(): Promise<void> {}
  get authenticated(): boolean {
    return false;
  }
  async authenticate(_auth: CredentialsInput | Credentials): Promise<void> {}
  decide(offered: boolean): string {
    try {
      return this.tlsDecision("starttls", offered, "STARTTLS");
    } catch (error) {
      return (error as TestError).code;
    }
  }
}

const AUTH = { username: "u", password: "p" };

describe("the TLS default, the same for every mail client", () => {
  it.each([
    // tls absent: STARTTLS whenever offered
    [undefined, true, AUTH, "192.0.2.7", "upgrade"],
    // tls absent, no STARTTLS, credentials for a remote host: refused before any mechanism runs
    [undefined, false, AUTH, "192.0.2.7", "tls-required"],
    [undefined, false, AUTH, "2001:db8::1", "tls-required"],
    // ... but fine without credentials, or to loopback
    [undefined, false, undefined, "192.0.2.7", "continue"],
    [undefined, false, AUTH, "127.0.0.1", "continue"],
    [undefined, false, AUTH, "::1", "continue"],
    // "starttls": required always, loopback included
    ["starttls", true, AUTH, "192.0.2.7", "upgrade"],
    ["starttls", false, undefined, "127.0.0.1", "tls-required"],
    // core's cleartext rule decides for credentials: "allow" opts in for any host, "never" refuses even loopback
    [undefined, false, { ...AUTH, cleartext: "allow" }, "192.0.2.7", "continue"],
    [undefined, false, { ...AUTH, cleartext: "never" }, "127.0.0.1", "tls-required"],
    [undefined, false, { cleartext: "never" }, "127.0.0.1", "continue"],
    // "none": never upgrades (the mechanisms' cleartext rule applies later)
    ["none", true, AUTH, "192.0.2.7", "continue"],
    ["none", false, AUTH, "192.0.2.7", "continue"],
  ] as const)("tls %s, STARTTLS offered %s, auth/policy %j, peer %s: %s", (tls, offered, given, remote, expected) => {
    const { cleartext, ...auth } = (given ?? {}) as { cleartext?: "allow" | "never" | "loopback"; username?: string; password?: string };
    const options: MailClientOptions = {
      host: "mail.example",
      ...(tls ? { tls } : {}),
      ...(auth.username !== undefined ? { auth } : {}),
      ...(cleartext ? { policy: { cleartext } } : {}),
    };
    expect(new Probe(options, remote).decide(offered)).toBe(expected);
  });

  it("the refusal names what happened and how to proceed, with the service on the channel", () => {
    const probe = new Probe({ host: "mail.example", auth: AUTH }, "192.0.2.7");
    expect(probe.channel.service).toBe("test");
    expect(probe.channel.loopback).toBe(false);
    try {
      (probe as unknown as { tlsDecision: (...a: unknown[]) => string }).tlsDecision("starttls", false, "STARTTLS");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TestError);
      expect((error as TestError).message).toMatch(/^TEST starttls: the server does not offer STARTTLS, and the credentials may not cross in clear: the channel is not TLS to a non-loopback host/);
    }
  });
});
