/**
 * What every real-server test needs: the running servers' env (the suite skips locally when they
 * are unavailable, and fails under CI=true), the mechanism packages those servers speak, and a
 * plain SMTP delivery through Postfix for tests that then read the mailbox.
 */
import type { MechanismProvider } from "@saslkit/core";
import { anonymous } from "@saslkit/mech-anonymous";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { external } from "@saslkit/mech-external";
import { login } from "@saslkit/mech-login";
import { oauthBearer, xoauth2 } from "@saslkit/mech-oauth";
import { plain } from "@saslkit/mech-plain";
import { scramSha1, scramSha256 } from "@saslkit/mech-scram";
import { Deadline, LineSocket } from "@saslkit/transport";
import { serverEnvForTests, type ServerEnv } from "../servers/servers.js";

export type { ServerEnv };

/**
 * The running servers, or undefined (the suite skips) when they are unavailable. Under CI=true
 * unavailability throws at import time, so the file fails instead of being skipped silently
 * (SASLKIT_SERVERS=off is an explicit opt-out for unit-only runs, not a failure to start).
 */
export function realServers(): ServerEnv | undefined {
  const found = serverEnvForTests();
  if (found.env) return found.env;
  if (process.env["CI"] === "true" && process.env["SASLKIT_SERVERS"] !== "off") throw new Error(`Real mail servers are required under CI=true: ${found.unavailable}`);
  return undefined;
}

/** Every mechanism package the project ships that these servers can speak. */
export const allProviders: readonly MechanismProvider[] = [plain, login, cramMd5, digestMd5, scramSha1, scramSha256, oauthBearer, xoauth2, anonymous, external];

/** `allProviders` with `provider` in place of the shipped one of the same name (a recording wrapper, say): a registry takes one provider per name. */
export function allProvidersWith(provider: MechanismProvider): readonly MechanismProvider[] {
  return [provider, ...allProviders.filter((p) => p.name !== provider.name)];
}

/** Delivers one small message to `to` through Postfix with a plain SMTP dialogue (no AUTH: local delivery). */
export async function deliverViaPostfix(env: ServerEnv, to: string, subject: string, body: string): Promise<void> {
  const socket = await LineSocket.connect({ host: env.host, port: env.smtp.port, connectTimeoutMs: 10000 });
  const deadline = Deadline.in(20000);
  const expectCode = async (code: string) => {
    let line: string;
    do line = await socket.readLine(deadline);
    while (/^\d{3}-/.test(line));
    if (!line.startsWith(code)) throw new Error(`SMTP delivery: expected ${code}, got "${line}"`);
  };
  try {
    await expectCode("220");
    for (const [command, code] of [
      ["EHLO test.saslkit.test", "250"],
      [`MAIL FROM:<sender@${env.domain}>`, "250"],
      [`RCPT TO:<${to}>`, "250"],
      ["DATA", "354"],
    ] as const) {
      await socket.writeLine(command);
      await expectCode(code);
    }
    await socket.write(`From: sender@${env.domain}\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@${env.domain}>\r\n\r\n${body}\r\n.\r\n`);
    await expectCode("250");
    await socket.writeLine("QUIT");
  } finally {
    await socket.close();
  }
}
