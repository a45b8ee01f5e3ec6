/**
 * vitest globalSetup: starts the real Postfix + Dovecot (test/servers/) once
 * per run and stops them afterwards. Concurrent runs on one machine share
 * them (acquire.sh / release.sh): the last run to finish stops them.
 *
 * Test files read the result with serverEnvForTests() from ./servers.js, or
 * JSON.parse(process.env.SASLKIT_SERVER_ENV): either the ServerEnv (env.json)
 * or { "unavailable": "<reason>" }, in which case they skip with that reason.
 *
 *   SASLKIT_SERVERS=off    start nothing; tests skip ("SASLKIT_SERVERS=off").
 *   SASLKIT_SERVERS=reuse  use servers already started by hand (start.sh) when
 *                          their env.json is there; do not stop them afterwards.
 *   SASLKIT_SERVERS_KEEP=1 leave the servers running after the run (debugging).
 *   CI=true                a failure to start fails the run instead of skipping.
 */
import { acquireServers, loadServerEnv, releaseServers, setupLogFile, type ServerEnv } from "./servers.js";

function publish(value: ServerEnv | { unavailable: string }): void {
  process.env["SASLKIT_SERVER_ENV"] = JSON.stringify(value);
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  const mode = process.env["SASLKIT_SERVERS"];
  if (mode === "off") {
    publish({ unavailable: "real servers disabled (SASLKIT_SERVERS=off)" });
    return undefined;
  }
  if (mode === "reuse") {
    const running = loadServerEnv();
    if (running !== undefined) {
      publish(running);
      return undefined;
    }
  }

  const started = Date.now();
  let env: ServerEnv;
  try {
    // Shared with concurrent runs on this machine instead of restarting
    // (and so killing) servers another run is using.
    env = await acquireServers();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (process.env["CI"] === "true") {
      throw new Error(`real mail servers did not start (CI=true, so the run fails): ${reason}`);
    }
    const first = reason.split("\n")[0] ?? reason;
    console.warn(
      `\n[saslkit] WARNING: real mail servers did not start; tests that need them are SKIPPED.\n` +
        `[saslkit] ${reason}\n[saslkit] Full log: ${setupLogFile()}. Set SASLKIT_SERVERS=off to silence this.\n`,
    );
    publish({ unavailable: `real mail servers did not start: ${first} (see ${setupLogFile()})` });
    return undefined;
  }
  publish(env);
  if (process.env["SASLKIT_SERVERS_DEBUG"] === "1") {
    console.log(`[saslkit] servers up in ${Date.now() - started} ms; ${env.stateDir}/env.json`);
  }

  return async () => {
    if (process.env["SASLKIT_SERVERS_KEEP"] === "1") return;
    await releaseServers();
  };
}
