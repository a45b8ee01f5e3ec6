/**
 * Client options for the SMTP fake servers the root tests write themselves (pool faults, hostile
 * pool peers, scripted BDAT): loopback in cleartext, a fixed EHLO name, user "u" with password
 * "p" over the real PLAIN mechanism; `extra` overrides any of it.
 */
import { plain } from "@saslkit/mech-plain";
import type { SmtpClientOptions } from "@saslkit/smtp";

export const fakeServerOptions = (port: number, extra: Partial<SmtpClientOptions> = {}): SmtpClientOptions => ({
  host: "127.0.0.1",
  port,
  tls: "none",
  ehloName: "client.example.org",
  auth: { username: "u", password: "p" },
  mechanisms: [plain],
  ...extra,
});
