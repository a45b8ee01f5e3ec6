// saslkit's SMTP client (@saslkit/smtp, built dist) with the PLAIN mechanism.
// Loaded by `saslkitUnavailable()`, which every worker calls before any clock starts (whatever
// client it measures); when the package does not export a usable client, it says why and the
// orchestrator reports the saslkit rows as missing instead of failing the run.
// tsyringe (under @saslkit/core) needs the Reflect polyfill loaded first. It resolves from the
// workspace root's node_modules (bench/package.json does not list it).
import "reflect-metadata";
import { FROM, TO } from "./messages.mjs";
import { withTimeout } from "./sink-server.mjs";

const TIMEOUT_MS = 60_000;
/** How many sends the runner keeps in flight on one connection (they pipeline). */
export const WINDOW = 100;

let loaded;
async function load() {
  if (loaded) return loaded;
  try {
    const smtp = await import("@saslkit/smtp");
    const { plain } = await import("@saslkit/mech-plain");
    if (typeof smtp.SmtpClient?.connect !== "function") {
      loaded = { why: "@saslkit/smtp does not export SmtpClient.connect yet" };
    } else {
      loaded = { smtp, plain };
    }
  } catch (error) {
    loaded = { why: `@saslkit/smtp could not be loaded: ${error.message}` };
  }
  return loaded;
}

/** undefined when the saslkit client can run, else the reason it cannot. */
export async function saslkitUnavailable() {
  return (await load()).why;
}

function connectOptions({ host, port, user, password }) {
  return {
    host,
    port,
    tls: "none",
    ehloName: "bench.client",
    auth: { username: user, password },
    mechanisms: [loaded.plain],
    policy: { cleartext: "allow" },
  };
}

export async function skConnect(opts) {
  const { smtp, why } = await load();
  if (why) throw new Error(why);
  return withTimeout(smtp.SmtpClient.connect(connectOptions(opts)), TIMEOUT_MS, "saslkit connect");
}

const envelope = { from: FROM, to: [TO] };

export function skSend(client, message) {
  return withTimeout(client.send(message, envelope), TIMEOUT_MS, "saslkit send");
}

export async function skQuit(client) {
  await withTimeout(client.quit(), TIMEOUT_MS, "saslkit quit");
}

/** `count` sends, at most WINDOW in flight, so they pipeline without unbounded memory. */
export async function skSendMany(client, message, count) {
  let issued = 0;
  const lane = async () => {
    while (issued < count) {
      issued++;
      await skSend(client, message);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, count) }, lane));
}

/** One whole session with the library's one-shot API: `sendMail` (connect, AUTH, send, QUIT pipelined with the dot). */
export async function skSession(opts, message) {
  const { smtp, why } = await load();
  if (why) throw new Error(why);
  await withTimeout(smtp.sendMail(connectOptions(opts), message, envelope), TIMEOUT_MS, "saslkit sendMail");
}
