/**
 * Client options for the fake SMTP servers of the root tests (fake-smtp-server.ts for the pool
 * fault and hostile-peer tests, test-kit's scripted server for BDAT): loopback in cleartext, a
 * fixed EHLO name, user "u" with password "p" over the real PLAIN mechanism; `extra` overrides
 * any of it.
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
