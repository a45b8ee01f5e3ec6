// Shared by the bench scripts: their `--name value` options, and the real servers they measure.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The value after `--name` on the command line, or `fallback`. */
export function option(name, fallback) {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

/** The servers started by test/servers/start.sh (its env.json, in SASLKIT_SERVERS_DIR). */
export function serversEnv() {
  const dir = process.env.SASLKIT_SERVERS_DIR ?? "/tmp/saslkit-servers";
  return JSON.parse(readFileSync(join(dir, "env.json"), "utf8"));
}

/** SmtpClient options for the real Postfix as alice (AUTH PLAIN, trusting the servers' CA); `extra` overrides. */
export function postfixOptions(env, extra = {}) {
  const alice = env.users.alice;
  return {
    host: env.host,
    port: env.smtp.port,
    tls: "starttls",
    tlsOptions: { ca: readFileSync(env.caFile, "utf8"), servername: env.tlsServerName },
    ehloName: "bench.saslkit.test",
    auth: { username: alice.user, password: alice.password },
    ...extra,
  };
}
