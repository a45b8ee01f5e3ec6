// SmtpPool under load while the real Postfix (test/servers) is stopped and started again.
//
//   export SASLKIT_SERVERS_PORT_BASE=29000 SASLKIT_SERVERS_DIR=/tmp/saslkit-servers-poolrs
//   bash test/servers/start.sh          # Postfix + Dovecot on loopback (root or sudo)
//   pnpm exec tsc -b && node bench/pool-restart.mjs --out bench/results/pool-restart.md
//   bash test/servers/stop.sh
//
// Options (defaults in brackets): --messages [3000] --rate [300] messages handed to pool.send per
// second, --connections [4], --stop-at [3000] ms after the first message, --how [stop] or abort
// (both send SIGTERM to Postfix's master, which takes every Postfix process and session down with
// it; `stop` then waits in 1 s steps until the master is gone, `abort` returns at once),
// --down [2000] ms between the return of that command and `postfix start`,
// --max-connect-failures [the pool's default],
// --out FILE, --append (add to FILE instead of replacing it). Stops and starts only Postfix, with
// its config dir (`postfix -c $STATE/postfix/etc stop|start`); Dovecot keeps running. Needs root
// (or `sudo -n`) for that, like test/servers. bench/results/pool-restart.md holds three runs:
//   node bench/pool-restart.mjs --out bench/results/pool-restart.md
//   node bench/pool-restart.mjs --how abort --rate 600 --messages 4000 --stop-at 2500 --out bench/results/pool-restart.md --append
//   node bench/pool-restart.mjs --how abort --down 6000 --out bench/results/pool-restart.md --append
//
// What it does: one pool (STARTTLS + AUTH PLAIN as alice, maxMessagesPerConnection 100) gets
// `--messages` 1 KiB messages for bob at a steady `--rate`, the way an application sends, each
// with a unique Message-ID. Mid-run Postfix is stopped, stays down, and is started again. Every
// send's outcome is recorded (result with queue id, or the error's code, reply code and socket
// error). After the run it waits until Postfix's queue is empty, then reads bob's Maildir and
// matches every delivered file to its message by Message-ID and to its Postfix queue id by the
// Received field. The report checks the delivery rule: every message reported sent arrived, under
// the queue id its 250 reply named; none was accepted twice; none reported as failed (other than
// `outcome-unknown`) arrived; every send settled; messages handed over after Postfix listened again
// went out. Use the servers' own instance: the mailbox and the stop/start are this run's alone.
import { spawn } from "node:child_process";
import { appendFileSync, openSync, readdirSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createPool } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
import { option, postfixOptions, serversEnv } from "./lib/cli.mjs";

const args = process.argv.slice(2);
const opt = option;
const MESSAGES = Number(opt("messages", 3000));
const RATE = Number(opt("rate", 300));
const CONNECTIONS = Number(opt("connections", 4));
const STOP_AT = Number(opt("stop-at", 3000));
const DOWN = Number(opt("down", 2000));
const MAX_CONNECT_FAILURES = opt("max-connect-failures", undefined);
const HOW = opt("how", "stop");
if (HOW !== "stop" && HOW !== "abort") throw new Error(`--how must be stop or abort, got ${HOW}`);
const OUT = opt("out", null);

const env = serversEnv();
const alice = env.users.alice;
const bob = env.users.bob;
const postfixEtc = join(env.stateDir, "postfix/etc");
const spool = join(env.stateDir, "postfix/spool");
const maildir = env.maildir.replace("%u", bob.user);
const run = `rs${Date.now().toString(36)}`;
const sbinPath = `${process.env.PATH ?? ""}:/usr/sbin:/sbin`;
const asRoot = (argv) => (process.getuid?.() === 0 ? argv : ["sudo", "-n", ...argv]);

/** `postfix -c <etc> stop|start|flush`, stdio to the servers' log dir (a daemon must not hold our pipes). */
function postfix(action) {
  const log = openSync(join(env.stateDir, "log/postfix-restart.log"), "a");
  const [cmd, ...rest] = asRoot(["postfix", "-c", postfixEtc, action]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, rest, { cwd: join(env.stateDir, "postfix"), stdio: ["ignore", log, log], env: { ...process.env, PATH: sbinPath } });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`postfix ${action} exited with ${code}; see ${env.stateDir}/log/postfix-restart.log`))));
  });
}

/** True once something accepts TCP connections on the SMTP port. */
function listening() {
  return new Promise((resolve) => {
    const s = connect({ host: env.host, port: env.smtp.port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Files waiting in Postfix's queues (root reads them; the spool is not world-readable). */
function queued() {
  let n = 0;
  for (const q of ["maildrop", "incoming", "active", "deferred", "hold"]) {
    const walk = (d) => {
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(join(d, e.name));
      else n++;
    };
    walk(join(spool, q));
  }
  return n;
}

const body = (id, i) =>
  `From: <${alice.address}>\r\nTo: <${bob.address}>\r\nSubject: ${id}\r\nMessage-ID: <${id}>\r\n\r\n` +
  `message ${i} of pool-restart run ${run}\r\n`.padEnd(1024 - 100 - 2 * id.length, "x") +
  "\r\n";

/** "connect-failed (ECONNREFUSED)", "rejected 421", "closed (ECONNRESET)", "outcome-unknown (closed)" ... */
function describe(error) {
  let text = error?.code ?? String(error);
  if (error?.reply?.code) text += ` ${error.reply.code}`;
  let c = error?.cause;
  let detail;
  for (let depth = 0; c && depth < 4; depth++, c = c.cause) detail = (typeof c.code === "string" && c.code) || detail;
  if (detail && detail !== error?.code) text += ` (${detail})`;
  return text;
}

const poolOptions = {
  connection: postfixOptions(env, { mechanisms: [plain], policy: { force: "PLAIN" } }),
  maxConnections: CONNECTIONS,
  maxMessagesPerConnection: 100,
  ...(MAX_CONNECT_FAILURES ? { maxConnectFailures: Number(MAX_CONNECT_FAILURES) } : {}),
};
const pool = createPool(poolOptions);

const t0 = Date.now();
const at = () => Date.now() - t0;
const events = {};
const records = [];
const pending = [];

// The outage, on its own timeline.
const outage = (async () => {
  await new Promise((r) => setTimeout(r, STOP_AT));
  events.stopIssued = at();
  events.atStop = pool.stats;
  await postfix(HOW);
  events.stopped = at();
  for (let i = 0; i < 250 && (await listening()); i++) await new Promise((r) => setTimeout(r, 20));
  events.portClosed = (await listening()) ? undefined : at();
  await new Promise((r) => setTimeout(r, DOWN));
  events.startIssued = at();
  await postfix("start");
  events.started = at();
  while (!(await listening())) await new Promise((r) => setTimeout(r, 20));
  events.listening = at();
})();

// The load: RATE messages per second, in 10 ms ticks, whatever happens to earlier ones.
let maxQueued = 0;
await new Promise((resolve) => {
  let next = 0;
  const tick = () => {
    const due = Math.min(MESSAGES, Math.floor((at() * RATE) / 1000) + 1);
    for (; next < due; next++) {
      const i = next;
      const id = `${run}-${String(i).padStart(5, "0")}@${env.domain}`;
      const rec = { i, id, submitted: at() };
      records.push(rec);
      pending.push(
        pool.send(body(id, i), { from: alice.address, to: [bob.address] }).then(
          (result) => {
            rec.settled = at();
            rec.ok = true;
            rec.queueId = result.queueId;
          },
          (error) => {
            rec.settled = at();
            rec.ok = false;
            rec.code = error?.code;
            rec.what = describe(error);
          },
        ),
      );
    }
    maxQueued = Math.max(maxQueued, pool.stats.queued);
    if (next >= MESSAGES) resolve();
    else setTimeout(tick, 10);
  };
  tick();
});
events.lastSubmitted = at();
await outage;

// Every send must settle; a hang is a finding, so give up after a bound instead of waiting forever.
const SETTLE_LIMIT_MS = 120_000;
const settledInTime = await Promise.race([Promise.all(pending).then(() => true), new Promise((r) => setTimeout(() => r(false), SETTLE_LIMIT_MS).unref())]);
events.allSettled = settledInTime ? at() : undefined;
const stats = pool.stats;
const closeStart = at();
const closedInTime = await Promise.race([pool.close().then(() => true), new Promise((r) => setTimeout(() => r(false), 30_000).unref())]);
events.closed = closedInTime ? at() : undefined;

// Wait for Postfix to deliver what it accepted (messages it held when it was stopped included).
let flushed = false;
const deliverDeadline = Date.now() + 120_000;
let quietSince;
for (;;) {
  const n = queued();
  if (n === 0) {
    quietSince ??= Date.now();
    if (Date.now() - quietSince >= 1500) break;
  } else quietSince = undefined;
  if (n > 0 && !flushed && Date.now() > deliverDeadline - 100_000) {
    flushed = true; // deferred mail would wait for the next queue run: ask for it now
    await postfix("flush").catch(() => undefined);
  }
  if (Date.now() > deliverDeadline) break;
  await new Promise((r) => setTimeout(r, 250));
}
events.queueEmpty = queued() === 0 ? at() : undefined;

// Bob's Maildir: Message-ID -> the Postfix queue ids under which copies arrived.
const arrived = new Map();
const receivedId = /\(Postfix\) with E?SMTP\S* id ([A-Za-z0-9]+)/;
for (const sub of ["new", "cur"]) {
  let names = [];
  try {
    names = readdirSync(join(maildir, sub));
  } catch {}
  for (const name of names) {
    let text;
    try {
      text = await readFile(join(maildir, sub, name), "latin1");
    } catch {
      continue;
    }
    const head = text.slice(0, text.indexOf("\r\n\r\n")).replace(/\r\n[ \t]+/g, " ");
    const mid = /^Message-ID: <([^>]+)>/im.exec(head)?.[1];
    if (!mid?.startsWith(`${run}-`)) continue;
    const q = receivedId.exec(head)?.[1] ?? "?";
    arrived.set(mid, [...(arrived.get(mid) ?? []), q]);
  }
}

// ---- the checks ----------------------------------------------------------------------------
const ok = records.filter((r) => r.ok === true);
const failed = records.filter((r) => r.ok === false);
const unsettled = records.filter((r) => r.ok === undefined);
const unknown = failed.filter((r) => r.code === "outcome-unknown");
const notSent = failed.filter((r) => r.code !== "outcome-unknown");
const copies = (r) => arrived.get(r.id) ?? [];
const okMissing = ok.filter((r) => copies(r).length === 0);
const okWrongQueueId = ok.filter((r) => copies(r).length > 0 && !copies(r).includes(r.queueId));
const twiceAccepted = records.filter((r) => new Set(copies(r)).size > 1); // two SMTP transactions
const twiceDelivered = records.filter((r) => copies(r).length > new Set(copies(r)).size); // one queue file delivered twice
const notSentButArrived = notSent.filter((r) => copies(r).length > 0);
const unknownArrived = unknown.filter((r) => copies(r).length > 0);
const foreign = [...arrived.keys()].filter((id) => !records.some((r) => r.id === id));
const down = events.stopIssued;
const up = events.listening ?? Infinity;
const phase = (r) => (r.submitted < down ? "before" : r.submitted < up ? "outage" : "after");
const after = records.filter((r) => phase(r) === "after");
const afterFailed = after.filter((r) => r.ok !== true);

const byWhat = new Map();
for (const r of failed) {
  const key = `${r.what}|${phase(r)}`;
  const g = byWhat.get(key) ?? { n: 0, first: Infinity, last: -Infinity };
  g.n++;
  g.first = Math.min(g.first, r.settled);
  g.last = Math.max(g.last, r.settled);
  byWhat.set(key, g);
}
const okWhileDown = ok.filter((r) => r.settled >= (events.stopped ?? Infinity) && r.settled < up);
const firstAfterUpOk = ok.filter((r) => r.settled >= up).sort((a, b) => a.settled - b.settled)[0];
const arrivedTotal = [...arrived.values()].reduce((n, q) => n + q.length, 0);

const check = (pass, text) => `| ${pass ? "yes" : "**NO**"} | ${text} |`;
const load = loadavg();
const counts = (list) => {
  const p = { before: 0, outage: 0, after: 0 };
  for (const r of list) p[phase(r)]++;
  return `${list.length} (${p.before} / ${p.outage} / ${p.after})`;
};
const lines = [
  `# SmtpPool while Postfix is stopped and started under load (\`postfix ${HOW}\`, maxConnectFailures ${MAX_CONNECT_FAILURES ?? "default"})`,
  "",
  `Command: \`node bench/pool-restart.mjs ${args.join(" ")}\`; ${new Date().toISOString()}, node ${process.version}; load average ${load.map((l) => l.toFixed(2)).join(" ")} (1, 5, 15 min) at the end.`,
  "",
  `${MESSAGES} messages of 1 KiB (alice to bob, STARTTLS + AUTH PLAIN), handed to one pool at ${RATE}/s; ` +
    `maxConnections ${CONNECTIONS}, maxMessagesPerConnection 100, maxConnectFailures ${MAX_CONNECT_FAILURES ?? "6 (default)"}, other options default. Run id \`${run}\`.`,
  "",
  "## Timeline (ms after the first message)",
  "",
  "| event | ms |",
  "|---|---|",
  `| \`postfix ${HOW}\` issued (pool then: ${events.atStop.connections} connections, ${events.atStop.inFlight} messages in flight, ${events.atStop.queued} waiting) | ${events.stopIssued} |`,
  `| \`postfix ${HOW}\` returned | ${events.stopped} |`,
  `| SMTP port refuses connections | ${events.portClosed ?? "still open 5 s later!"} |`,
  `| \`postfix start\` issued | ${events.startIssued} |`,
  `| \`postfix start\` returned | ${events.started} |`,
  `| SMTP port accepts connections again | ${events.listening} |`,
  `| first send settled ok after that | ${firstAfterUpOk?.settled ?? "none"} |`,
  `| sends settled ok while the port refused connections (over sessions that outlived the stop) | ${okWhileDown.length}${okWhileDown.length ? `, the last at ${okWhileDown.at(-1).settled}` : ""} |`,
  `| last message handed to the pool | ${events.lastSubmitted} |`,
  `| every send settled | ${events.allSettled ?? `NOT within ${SETTLE_LIMIT_MS} ms`} |`,
  `| \`close()\` returned (called at ${closeStart}) | ${events.closed ?? "NOT within 30 s"} |`,
  `| Postfix queue empty | ${events.queueEmpty ?? "NOT within 120 s"} |`,
  "",
  "## Outcomes (total, then by when the message was handed over: before the stop / during the outage / after the port was open again)",
  "",
  "| outcome | messages |",
  "|---|---|",
  `| sent (250, queue id) | ${counts(ok)} |`,
  `| failed, not sent | ${counts(notSent)} |`,
  `| outcome-unknown | ${counts(unknown)} |`,
  `| never settled | ${counts(unsettled)} |`,
  "",
  "Failures by error (code, reply code, socket error) and phase:",
  "",
  "| error | handed over | messages | settled from ... to (ms) |",
  "|---|---|---|---|",
  ...[...byWhat.entries()].sort().map(([k, g]) => {
    const [what, ph] = k.split("|");
    return `| ${what} | ${ph} | ${g.n} | ${g.first} ... ${g.last} |`;
  }),
  "",
  `Pool stats at the end: ${JSON.stringify(stats)}; most messages waiting in the pool's queue: ${maxQueued}.`,
  "",
  "## Mailbox check (bob's Maildir, matched by Message-ID; queue id from Postfix's Received field)",
  "",
  `Files of this run in the Maildir: ${arrivedTotal}, distinct messages: ${arrived.size}, not from this run's list: ${foreign.length}.`,
  "",
  "| holds | check |",
  "|---|---|",
  check(unsettled.length === 0, `every send settled (${records.length - unsettled.length} of ${records.length})`),
  check(okMissing.length === 0, `every message reported sent arrived (${ok.length - okMissing.length} of ${ok.length})`),
  check(okWrongQueueId.length === 0, `each arrived under the queue id its 250 reply named (${okWrongQueueId.length} did not)`),
  check(twiceAccepted.length === 0, `none was accepted twice, i.e. arrived under two queue ids (${twiceAccepted.length})`),
  check(notSentButArrived.length === 0, `none reported as failed-not-sent arrived (${notSentButArrived.length} of ${notSent.length})`),
  check(foreign.length === 0, "nothing arrived that was not handed to the pool"),
  check(after.length > 0 && afterFailed.length === 0, `the pool recovered: every message handed over after the port opened again was sent (${after.length - afterFailed.length} of ${after.length})`),
  "",
  `Not checks of the pool, for the reading: of the ${unknown.length} outcome-unknown messages, ${unknownArrived.length} arrived (Postfix had committed them before the link went) and ${unknown.length - unknownArrived.length} did not; the pool sent none of them again. ` +
    `Messages whose one queue file Postfix delivered twice (same queue id in both copies: its LMTP delivery was cut by the stop after Dovecot had saved the message, and was done again after the start): ${twiceDelivered.length}` +
    (twiceDelivered.length ? ` (${twiceDelivered.slice(0, 5).map((r) => `${r.id} as ${copies(r)[0]}`).join(", ")})` : "") +
    ".",
  "",
];
for (const [name, list] of [["reported sent but missing", okMissing], ["accepted twice", twiceAccepted], ["failed-not-sent but arrived", notSentButArrived], ["never settled", unsettled]]) {
  if (list.length) lines.push(`${name}: ${list.slice(0, 10).map((r) => `${r.id} (${r.what ?? r.queueId})`).join(", ")}${list.length > 10 ? ", ..." : ""}`, "");
}
const text = lines.join("\n");
if (OUT) {
  if (args.includes("--append")) appendFileSync(OUT, `\n${text}`);
  else writeFileSync(OUT, text);
}
process.stdout.write(text);
process.exit(unsettled.length || okMissing.length || twiceAccepted.length || notSentButArrived.length ? 1 : 0);
