// SCRAM-SHA-256 authentications per second, client against the server half in-process through
// core's pairedExchange + negotiate + authenticate (no sockets), at 4096 iterations:
// - cold: the client's key cache is off, so every authentication runs PBKDF2;
// - cached: the client keeps derived keys (LruScramKeyCache), as a long-running sender would;
// - 100 at once: the longest event-loop stall while 100 cold authentications run concurrently.
// The reference measured in the same run is bare node:crypto pbkdf2 (async) with the same
// parameters: the floor for a cold SCRAM client.
//
//   node bench/scram.mjs [--quick] [--trials N] [--out bench/results/scram.md]
import "reflect-metadata";
import { pbkdf2, randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import os from "node:os";
import { authenticate, negotiate, pairedExchange } from "@saslkit/core";
import { LruScramKeyCache, deriveScramKeys, prepareScramPassword, scramSha256 } from "@saslkit/mech-scram";

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1];
};
const quick = args.includes("--quick");
const TRIALS = Number(flag("--trials", quick ? 1 : 5));
const OUT = flag("--out", undefined);
const ITER = 4096;
const COLD_N = quick ? 50 : 300;
const CACHED_N = quick ? 500 : 3000;
const CONCURRENT = 100;
const log = (...a) => console.error(...a);
const pbkdf2Async = promisify(pbkdf2);

const USER = "bench-user";
const PASSWORD = "pencil-bench-Passw0rd";
const stored = await deriveScramKeys("SHA-256", prepareScramPassword(PASSWORD), { iterations: ITER });
const callbacks = { lookupScramKeys: (user, hash) => (user === USER && hash === "SHA-256" ? stored : undefined) };
const channel = { secure: false, loopback: true };

/** One complete SCRAM-SHA-256 authentication; throws unless the server authenticated USER. */
async function authOnce(cache) {
  const server = scramSha256.createServer({ callbacks, channel, hostname: "bench.local", options: {} });
  const exchange = pairedExchange(server);
  const plan = negotiate([scramSha256], {
    offered: ["SCRAM-SHA-256"],
    credentials: { username: USER, password: PASSWORD },
    channel,
    options: { scram: { cache } },
  });
  const result = await authenticate(plan, exchange);
  if (result.mechanism !== "SCRAM-SHA-256" || exchange.outcome?.identity?.authcid !== USER) throw new Error("SCRAM authentication did not succeed");
}

async function rate(n, fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function concurrent(n, fn) {
  const eld = monitorEventLoopDelay({ resolution: 1 });
  eld.enable();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, fn));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  eld.disable();
  return { perSecond: n / s, stallMs: eld.max / 1e6 };
}

const salt = randomBytes(16);
const rawPbkdf2 = () => pbkdf2Async(PASSWORD, salt, ITER, 32, "sha256");

const trials = { pbkdf2: [], cold: [], cached: [], pbkdf2Concurrent: [], coldConcurrent: [] };
for (let t = 0; t < TRIALS; t++) {
  trials.pbkdf2.push(await rate(COLD_N, rawPbkdf2));
  trials.cold.push(await rate(COLD_N, () => authOnce(false)));
  const cache = new LruScramKeyCache(64);
  await authOnce(cache); // fill the cache
  trials.cached.push(await rate(CACHED_N, () => authOnce(cache)));
  trials.pbkdf2Concurrent.push(await concurrent(CONCURRENT, rawPbkdf2));
  trials.coldConcurrent.push(await concurrent(CONCURRENT, () => authOnce(false)));
  log(
    `trial ${t + 1}: pbkdf2 ${trials.pbkdf2[t].toFixed(0)}/s, cold ${trials.cold[t].toFixed(0)}/s, cached ${trials.cached[t].toFixed(0)}/s, ` +
      `100 at once: ${trials.coldConcurrent[t].perSecond.toFixed(0)}/s, stall ${trials.coldConcurrent[t].stallMs.toFixed(1)} ms`,
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) => x.toFixed(d);
const mPbkdf2 = median(trials.pbkdf2);
const mCold = median(trials.cold);
const mCached = median(trials.cached);
const mConc = median(trials.coldConcurrent.map((r) => r.perSecond));
const mPConc = median(trials.pbkdf2Concurrent.map((r) => r.perSecond));
const maxStall = Math.max(...trials.coldConcurrent.map((r) => r.stallMs));
const maxPStall = Math.max(...trials.pbkdf2Concurrent.map((r) => r.stallMs));

let affinity = "unknown";
try {
  affinity = /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? affinity;
} catch {}

const lines = [
  "# SCRAM-SHA-256 authentication benchmark",
  "",
  "```",
  process.env.BENCH_COMMAND ?? `node ${process.argv.slice(1).join(" ")}`,
  "```",
  "",
  `- date: ${new Date().toISOString()}`,
  `- machine: nproc ${os.cpus().length} (available to this run: ${os.availableParallelism()}), ${os.cpus()[0]?.model ?? "?"}, ${os.platform()} ${os.release()}`,
  `- node ${process.version}; CPU affinity: ${affinity}; libuv threadpool size ${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}`,
  `- ${ITER} iterations; client \`scramSha256\` against its server half in-process (core \`negotiate\` + \`authenticate\` over \`pairedExchange\`); every authentication checked (server identity, client verified the server signature)`,
  `- ${TRIALS} trials, median; reference = bare \`crypto.pbkdf2\` (async, sha256, ${ITER} iterations) in the same run`,
  "",
  "| measurement | per second (median) | ratio to bare pbkdf2 | longest event-loop stall (max / median of trials) |",
  "| --- | ---: | ---: | ---: |",
  `| bare pbkdf2, sequential (reference) | ${fmt(mPbkdf2)} | 1.00 | |`,
  `| SCRAM-SHA-256 cold (no key cache), sequential, ${COLD_N} per trial | ${fmt(mCold)} | ${fmt(mCold / mPbkdf2, 2)} | |`,
  `| SCRAM-SHA-256 with key cache, sequential, ${CACHED_N} per trial | ${fmt(mCached)} | ${fmt(mCached / mPbkdf2, 2)} | |`,
  `| bare pbkdf2, ${CONCURRENT} at once | ${fmt(mPConc)} | ${fmt(mPConc / mPbkdf2, 2)} | ${fmt(maxPStall, 1)} / ${fmt(median(trials.pbkdf2Concurrent.map((r) => r.stallMs)), 1)} ms |`,
  `| SCRAM-SHA-256 cold, ${CONCURRENT} at once | ${fmt(mConc)} | ${fmt(mConc / mPbkdf2, 2)} | ${fmt(maxStall, 1)} / ${fmt(median(trials.coldConcurrent.map((r) => r.stallMs)), 1)} ms |`,
  "",
  `Target: longest event-loop stall while ${CONCURRENT} authentications run at once < 20 ms: measured ${fmt(maxStall, 1)} ms (max over trials): ${maxStall < 20 ? "met" : "**not met**"}.`,
  "",
  "Per-trial numbers:",
  "",
  "```json",
  JSON.stringify(trials, (k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v)),
  "```",
];
const text = lines.join("\n") + "\n";
if (OUT) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, text);
  log(`wrote ${OUT}`);
} else process.stdout.write(text);
