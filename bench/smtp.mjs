// SMTP client benchmark: saslkit vs nodemailer vs a raw-socket floor, against a local sink,
// all in the same run, reported as ratios to the raw client. See bench/README.md.
//
//   node bench/smtp.mjs [--quick] [--trials N] [--out bench/results/smtp.md]
import { fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import { execFileSync } from "node:child_process";
import { SINK_PASSWORD, SINK_USER, startSink, withTimeout } from "./lib/sink-server.mjs";
import { BIG_BLOCKS, bigMessageHash, sha256, smallMessage } from "./lib/messages.mjs";
import { saslkitUnavailable } from "./lib/saslkit-client.mjs";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const quick = args.includes("--quick");
const TRIALS = Number(flag("--trials", quick ? 1 : 5));
const OUT = flag("--out", undefined);
// Every client runs, in one worker process: a cold timed run (count), an untimed warm-up, then a
// longer steady-state timed run. Targets are judged on steady state; cold is printed beside it.
const MANY = quick ? 500 : 5000;
const MANY_WARMUP = quick ? 500 : 5000;
const MANY_STEADY = quick ? 1000 : 20000;
const SESSIONS = quick ? 30 : 300;
const SESSIONS_WARMUP = quick ? 30 : 300;
const SESSIONS_STEADY = quick ? 60 : 1000;
const BIG = quick ? 160 : BIG_BLOCKS; // 64 KiB blocks
const BIG_WARMUP = quick ? 16 : 256; // 16 MiB
const BIG_STEADY = BIG;
const RT_MESSAGES = 50;
const RT_SESSIONS = 5;
const WORKER = fileURLToPath(new URL("./lib/worker.mjs", import.meta.url));

const skWhy = await saslkitUnavailable();
const CLIENTS = ["raw", "raw2920", "nodemailer", ...(skWhy ? [] : ["saslkit"])];
const log = (...a) => console.error(...a);

async function runWorker(job) {
  const child = fork(WORKER, [JSON.stringify(job)], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const [msg] = await withTimeout(once(child, "message"), 300_000, `${job.client} ${job.scenario}`);
  await withTimeout(once(child, "exit"), 30_000, "worker exit").catch(() => child.kill());
  if (!msg.ok) throw new Error(`${job.client} ${job.scenario} failed: ${msg.error}`);
  return msg.result;
}

/** Checks that the sink received exactly the expected bodies: `expected` maps sha256 -> count. */
function verify(stats, expected, what) {
  const wrong = Object.entries(stats.hashes).filter(([h]) => !(h in expected)).reduce((n, [, c]) => n + c, 0);
  const short = Object.entries(expected).filter(([h, n]) => (stats.hashes[h] ?? 0) !== n);
  if (short.length || wrong || stats.errors.length) {
    const got = Object.entries(expected).map(([h, n]) => `${stats.hashes[h] ?? 0}/${n}`).join(", ");
    throw new Error(`${what}: sink got ${got} correct bodies, ${wrong} wrong, errors ${JSON.stringify(stats.errors.slice(0, 3))}`);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const small = smallMessage(1024);
const smallHash = sha256(small);
log("hashing the big message…");
const bigHash = await bigMessageHash(BIG);
const bigWarmHash = await bigMessageHash(BIG_WARMUP);

const sink = await startSink();
const burstSink = await startSink({ burst: true });
const base = { host: sink.host, user: SINK_USER, password: SINK_PASSWORD };

const scenarios = [
  { key: "many", count: MANY, warmup: MANY_WARMUP, steady: MANY_STEADY, expected: { [smallHash]: MANY + MANY_WARMUP + MANY_STEADY }, metric: "perSecond" },
  { key: "sessions", count: SESSIONS, warmup: SESSIONS_WARMUP, steady: SESSIONS_STEADY, expected: { [smallHash]: SESSIONS + SESSIONS_WARMUP + SESSIONS_STEADY }, metric: "perSecond" },
  { key: "big", count: BIG, warmup: BIG_WARMUP, steady: BIG_STEADY, expected: BIG_WARMUP === BIG ? { [bigHash]: 3 } : { [bigHash]: 2, [bigWarmHash]: 1 }, metric: "mbPerSec" },
];

const results = {}; // scenario -> client -> [result]
for (const sc of scenarios) {
  results[sc.key] = {};
  for (const c of CLIENTS) results[sc.key][c] = [];
  for (let t = 0; t < TRIALS; t++) {
    // Rotate the order each trial so no client always runs first (or last).
    const order = CLIENTS.map((_, i) => CLIENTS[(i + t) % CLIENTS.length]);
    for (const client of order) {
      await sink.reset();
      const r = await runWorker({ client, scenario: sc.key, count: sc.count, warmup: sc.warmup, steady: sc.steady, port: sink.port, ...base });
      verify(await sink.stats(), sc.expected, `${client} ${sc.key}`);
      results[sc.key][client].push(r);
      const show = (p) => `${p[sc.metric].toFixed(1)} stall ${p.stallMs.toFixed(1)} ms${p.peakAboveIdleMiB !== undefined ? ` rss +${p.peakAboveIdleMiB.toFixed(1)} MiB` : ""}`;
      log(`${sc.key} trial ${t + 1} ${client}: ${sc.metric} cold ${show(r.cold)} | steady ${show(r.steady)}`);
    }
  }
}

// Round trips, counted exactly on the burst sink (deterministic: one run each).
const roundTrips = {};
for (const client of CLIENTS) {
  await burstSink.reset();
  await runWorker({ client, scenario: "many", count: RT_MESSAGES, port: burstSink.port, ...base });
  let st = await burstSink.stats();
  verify(st, { [smallHash]: RT_MESSAGES }, `${client} round trips (messages)`);
  const perMessage = st.messageBursts / RT_MESSAGES;
  await burstSink.reset();
  await runWorker({ client, scenario: "sessions", count: RT_SESSIONS, port: burstSink.port, ...base });
  st = await burstSink.stats();
  verify(st, { [smallHash]: RT_SESSIONS }, `${client} round trips (sessions)`);
  roundTrips[client] = { perMessage, perSession: st.bursts / RT_SESSIONS };
  log(`round trips ${client}: ${perMessage} per message, ${st.bursts / RT_SESSIONS} per session`);
}
await sink.close();
await burstSink.close();

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------
// phase: "steady" (judged) or "cold" (printed beside it).
const med = (sc, client, field, phase = "steady") => median(results[sc][client].map((r) => r[phase][field]));
const maxOf = (sc, client, field, phase = "steady") => Math.max(...results[sc][client].map((r) => r[phase][field]));
const fmt = (x, d = 1) => (x === undefined || Number.isNaN(x) ? "n/a" : x.toFixed(d));
const ratio = (sc, client, field, phase = "steady") => med(sc, client, field, phase) / med(sc, "raw", field, phase);
const ratio2920 = (sc, client, field, phase = "steady") => med(sc, client, field, phase) / med(sc, "raw2920", field, phase);

let affinity = "unknown";
try {
  affinity = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? affinity;
} catch {}

let smtpState = "unknown";
try {
  const git = (...a) => execFileSync("git", a, { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" }).trim();
  const dirty = git("status", "--porcelain", "--", "packages/smtp/src");
  smtpState = `last commit touching packages/smtp ${git("log", "-1", "--format=%h", "--", "packages/smtp") || "none"}${dirty ? ", with uncommitted changes in packages/smtp/src (dist built from the working tree)" : ""}`;
} catch {}

const lines = [];
const out = (s = "") => lines.push(s);
out("# SMTP client benchmark");
out();
out("```");
out(process.env.BENCH_COMMAND ?? `node ${process.argv.slice(1).join(" ")}`);
out("```");
out();
out(`- date: ${new Date().toISOString()}`);
out(`- machine: nproc ${os.cpus().length} (available to this run: ${os.availableParallelism()}), ${os.cpus()[0]?.model ?? "?"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}`);
out(`- node ${process.version}; CPU affinity of the run (client, sink, workers): ${affinity}`);
out(`- saslkit build: ${smtpState}`);
out(`- trials per client: ${TRIALS} (median reported, order rotated per trial); every run verified by the sink (sha256 of each un-dot-stuffed body)`);
out(`- clients: raw = raw socket, blind pipelining (the reference, ratio 1.00); raw2920 = raw socket, waits for 354 as RFC 2920 requires; nodemailer = SMTPConnection ${JSON.parse(readFileSync(new URL("../node_modules/nodemailer/package.json", import.meta.url), "utf8")).version}; saslkit = @saslkit/smtp${skWhy ? ` (NOT RUN: ${skWhy})` : ""}`);
out();
out("Each client runs in its own process with every client's modules loaded before any clock starts, then: a **cold** timed run (the process's first operations), an untimed warm-up, and a longer **steady** timed run; the same counts for every client. Targets are judged on steady state; cold is shown beside it.");
out();
out(`## (a) one authenticated connection, 1 KiB messages: steady ${MANY_STEADY} (after cold ${MANY} + warm-up ${MANY_WARMUP})`);
out();
out("| client | steady msg/s | ÷ raw | ÷ raw2920 | cold msg/s | cold ÷ raw2920 | round trips / message | longest stall steady / cold (ms, max of trials) |");
out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const c of CLIENTS) out(`| ${c} | ${fmt(med("many", c, "perSecond"), 0)} | ${fmt(ratio("many", c, "perSecond"), 2)} | ${fmt(ratio2920("many", c, "perSecond"), 2)} | ${fmt(med("many", c, "perSecond", "cold"), 0)} | ${fmt(ratio2920("many", c, "perSecond", "cold"), 2)} | ${fmt(roundTrips[c].perMessage, 2)} | ${fmt(maxOf("many", c, "stallMs"))} / ${fmt(maxOf("many", c, "stallMs", "cold"))} |`);
out();
out(`## (b) sequential whole sessions (connect, EHLO, AUTH PLAIN, one 1 KiB message, QUIT): steady ${SESSIONS_STEADY} (after cold ${SESSIONS} + warm-up ${SESSIONS_WARMUP})`);
out();
out("| client | steady sessions/s | ÷ raw | ÷ raw2920 | cold sessions/s | cold ÷ raw2920 | round trips / session | longest stall steady / cold (ms) |");
out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const c of CLIENTS) out(`| ${c} | ${fmt(med("sessions", c, "perSecond"), 0)} | ${fmt(ratio("sessions", c, "perSecond"), 2)} | ${fmt(ratio2920("sessions", c, "perSecond"), 2)} | ${fmt(med("sessions", c, "perSecond", "cold"), 0)} | ${fmt(ratio2920("sessions", c, "perSecond", "cold"), 2)} | ${fmt(roundTrips[c].perSession, 1)} | ${fmt(maxOf("sessions", c, "stallMs"))} / ${fmt(maxOf("sessions", c, "stallMs", "cold"))} |`);
out();
out(`## (c) one ${(BIG * 64) / 1024} MiB message streamed from a generated Readable: steady (after cold + warm-up ${(BIG_WARMUP * 64) / 1024} MiB)`);
out();
out("| client | steady MB/s | ÷ raw | ÷ raw2920 | cold MB/s | cold ÷ raw | peak RSS above idle steady (MiB, median / max) | cold (max) | longest stall steady / cold (ms) |");
out("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const c of CLIENTS) out(`| ${c} | ${fmt(med("big", c, "mbPerSec"), 0)} | ${fmt(ratio("big", c, "mbPerSec"), 2)} | ${fmt(ratio2920("big", c, "mbPerSec"), 2)} | ${fmt(med("big", c, "mbPerSec", "cold"), 0)} | ${fmt(ratio("big", c, "mbPerSec", "cold"), 2)} | ${fmt(med("big", c, "peakAboveIdleMiB"))} / ${fmt(maxOf("big", c, "peakAboveIdleMiB"))} | ${fmt(maxOf("big", c, "peakAboveIdleMiB", "cold"))} | ${fmt(maxOf("big", c, "stallMs"))} / ${fmt(maxOf("big", c, "stallMs", "cold"))} |`);
out();
out("Round trips are counted on a second sink in burst mode (it waits 5 ms after a burst's first byte, so all a client writes without waiting lands in one pass): " +
  `${RT_MESSAGES} messages on one connection (bursts carrying message commands or data ÷ messages) and ${RT_SESSIONS} whole sessions (all bursts ÷ sessions; the greeting is not a client burst).`);
out();
out("## Targets (issue): saslkit");
out();
if (skWhy) {
  out(`saslkit was not measured in this run: ${skWhy}.`);
} else {
  const x = (sc, f, field) => (v) => `${fmt(v, 2)}× (cold ${fmt(f(sc, "saslkit", field, "cold"), 2)}×)`;
  const checks = [
    ["≥0.8× raw, messages/s", ratio("many", "saslkit", "perSecond"), (v) => v >= 0.8, x("many", ratio, "perSecond")],
    ["≥0.8× raw2920 (RFC 2920 floor), messages/s", ratio2920("many", "saslkit", "perSecond"), (v) => v >= 0.8, x("many", ratio2920, "perSecond")],
    ["≥0.8× raw, sessions/s", ratio("sessions", "saslkit", "perSecond"), (v) => v >= 0.8, x("sessions", ratio, "perSecond")],
    ["≥0.8× raw2920, sessions/s", ratio2920("sessions", "saslkit", "perSecond"), (v) => v >= 0.8, x("sessions", ratio2920, "perSecond")],
    ["≥0.8× raw, MB/s (100 MiB)", ratio("big", "saslkit", "mbPerSec"), (v) => v >= 0.8, x("big", ratio, "mbPerSec")],
    // The first message's MAIL/RCPT/DATA is a round trip of its own: N messages need N + 1.
    ["1 round trip per message on a reused connection", roundTrips.saslkit.perMessage, (v) => v <= (RT_MESSAGES + 1) / RT_MESSAGES, (v) => `${fmt(v, 2)} (${RT_MESSAGES + 1} for ${RT_MESSAGES})`],
    ["round trips per session ≤ nodemailer", roundTrips.saslkit.perSession, (v) => v <= roundTrips.nodemailer.perSession, (v) => `${fmt(v, 1)} vs ${fmt(roundTrips.nodemailer.perSession, 1)}`],
    ["peak RSS ≤ 32 MiB above idle (100 MiB message)", Math.max(maxOf("big", "saslkit", "peakAboveIdleMiB"), maxOf("big", "saslkit", "peakAboveIdleMiB", "cold")), (v) => v <= 32, (v) => `${fmt(v)} MiB`],
    ["no event-loop stall over 20 ms (steady)", Math.max(...["many", "sessions", "big"].map((s) => maxOf(s, "saslkit", "stallMs"))), (v) => v <= 20, (v) => `${fmt(v)} ms (cold ${fmt(Math.max(...["many", "sessions", "big"].map((s) => maxOf(s, "saslkit", "stallMs", "cold"))))} ms)`],
  ];
  out("| target | measured | met |");
  out("| --- | ---: | --- |");
  for (const [name, v, ok, show] of checks) out(`| ${name} | ${show(v)} | ${ok(v) ? "yes" : `**no**`} |`);
}
out();
out("Raw per-trial numbers:");
out();
out("```json");
out(JSON.stringify({ results, roundTrips }, (k, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v)));
out("```");

const text = lines.join("\n") + "\n";
if (OUT) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  log(`wrote ${OUT}`);
} else process.stdout.write(text);
