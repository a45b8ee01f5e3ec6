// saslkit adapter for the shared SMTP client harness (see README.md next to this file, and the
// harness's own README for the adapter contract). It drives only @saslkit/smtp's public API, the
// way the project README tells a user to: `SmtpClient.connect` + `quit` (auth-rtt),
// `sendMail` (sessions, big: one message over a fresh connection), and `client.sendMany` (reuse:
// many messages over one connection, pipelining window chosen by the library).
//
// The harness runs adapters with its own folder as working directory; the measurement helpers
// (startMeasure, runPool, emit, guard) are taken from there, so saslkit is timed by exactly the
// code that times floor-node and nodemailer. Packages resolve from the workspace (built dist/).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { SmtpClient, sendMail } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
import { login } from "@saslkit/mech-login";
import { cramMd5 } from "@saslkit/mech-cram-md5";

const common = await import(pathToFileURL(path.join(process.cwd(), "lib/adapter-common.mjs")).href);
const { parseArgs, startMeasure, emit, guard, runPool, readMessage, errText } = common;

// XOAUTH2 lives in @saslkit/mech-oauth (or, before that package existed, @saslkit/mech-xoauth2).
async function oauthProvider() {
  for (const name of ["@saslkit/mech-oauth", "@saslkit/mech-xoauth2"]) {
    try {
      const m = await import(name);
      if (m.xoauth2) return m.xoauth2;
    } catch {
      // try the next name
    }
  }
  return undefined;
}

const o = parseArgs();
const version = (() => {
  try {
    const url = new URL(import.meta.resolve("@saslkit/smtp"));
    return JSON.parse(fs.readFileSync(new URL("../package.json", url), "utf8")).version;
  } catch {
    return null;
  }
})();
const base = {
  client: "saslkit",
  lib: "@saslkit/smtp",
  lib_version: version,
  scenario: o.scenario,
  mech: o.mech,
  tls: o.tls,
  n: o.n,
  concurrency: o.concurrency,
};
guard(base, o.timeoutMs);

const xoauth2 = o.mech === "XOAUTH2" ? await oauthProvider() : undefined;
if (o.mech === "XOAUTH2" && !xoauth2) {
  emit({ ...base, ok: false, unsupported: true, completed: 0, errors: 0, error: "no XOAUTH2 provider installed" });
  process.exit(0);
}

/** Options as a user writes them: a plain mechanism list, the mechanism forced by policy. */
const options = {
  host: o.host,
  port: o.port,
  tls: o.tls === "starttls" ? "starttls" : "none",
  ...(o.tls === "starttls" ? { tlsOptions: { rejectUnauthorized: false } } : {}),
  auth: o.mech === "XOAUTH2" ? { username: o.user, token: o.pass } : { username: o.user, password: o.pass },
  mechanisms: [plain, login, cramMd5, ...(xoauth2 ? [xoauth2] : [])],
  policy: { force: o.mech },
};
const envelope = { from: o.from, to: [o.to] };

async function main() {
  let r;
  const m = startMeasure();
  if (o.scenario === "auth-rtt") {
    r = await runPool(
      o.n,
      1,
      async () => {
        const client = await SmtpClient.connect(options);
        await client.quit();
      },
      o.maxMs,
    );
  } else if (o.scenario === "sessions") {
    const msg = readMessage(o.message);
    r = await runPool(o.n, o.concurrency, () => sendMail(options, msg, envelope), o.maxMs);
  } else if (o.scenario === "reuse") {
    const msg = readMessage(o.message);
    const deadline = o.maxMs > 0 ? Date.now() + o.maxMs : Infinity;
    // The messages come from a generator, which stops producing at the time cap (the contract's
    // "start no new message once X ms have passed").
    function* messages() {
      for (let i = 0; i < o.n && Date.now() < deadline; i++) yield { message: msg, envelope };
    }
    const client = await SmtpClient.connect(options);
    r = { completed: 0, errors: 0, firstError: null };
    const window = process.env.SASLKIT_BENCH_WINDOW ? { window: Number(process.env.SASLKIT_BENCH_WINDOW) } : undefined; // experiments only
    for await (const result of client.sendMany(messages(), window)) {
      if (result.ok) r.completed++;
      else {
        r.errors++;
        r.firstError ??= result.error;
      }
    }
    await client.quit();
  } else if (o.scenario === "big") {
    // Streamed from the file, in the same 1 MiB chunks the floor and nodemailer adapters read.
    r = await runPool(1, 1, () => sendMail(options, fs.createReadStream(o.message, { highWaterMark: 1 << 20 }), envelope));
  } else {
    return emit({ ...base, ok: false, unsupported: true, error: `unknown scenario ${o.scenario}` });
  }
  const meas = m.stop();
  emit({ ...base, ok: r.errors === 0, completed: r.completed, errors: r.errors, error: errText(r.firstError), ...meas });
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ ...base, ok: false, error: errText(e) });
    process.exit(1);
  },
);
