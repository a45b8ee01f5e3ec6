#!/usr/bin/env node
// The long fuzz campaign (issue 6): runs test/fuzz-*.test.ts with FUZZ_RUNS raised, counts the
// cases every property ran, and prints cases, time and failures. `--write` also records the
// figures in bench/results/fuzz.md.
//
//   node scripts/fuzz.mjs                 # FUZZ_RUNS=25000: about 1 million cases
//   FUZZ_RUNS=3000 node scripts/fuzz.mjs  # a shorter campaign
//   node scripts/fuzz.mjs --write         # and update bench/results/fuzz.md
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const runs = process.env.FUZZ_RUNS ?? "25000";
const dir = mkdtempSync(join(tmpdir(), "saslkit-fuzz-"));
const countFile = join(dir, "counts");
const reportFile = join(dir, "report.json");
// Event-loop stalls and peak heap, recorded by the suites that run a live server (test/fuzz-parsers.test.ts).
const statsFile = join(dir, "stats");
const vitest = join(root, "node_modules", ".bin", "vitest");
const args = ["run", "test/fuzz-", "--testTimeout=0", "--reporter=default", "--reporter=json", `--outputFile.json=${reportFile}`];

console.log(`fuzz campaign: FUZZ_RUNS=${runs} (default-run properties scale by FUZZ_RUNS/300)`);
const started = process.hrtime.bigint();
const result = spawnSync(vitest, args, {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, FUZZ_RUNS: runs, FUZZ_COUNT_FILE: countFile, FUZZ_STATS_FILE: statsFile, SASLKIT_SERVERS: "off" },
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const load = loadavg().map((l) => l.toFixed(2)).join(" / ");

const cases = existsSync(countFile) ? readFileSync(countFile, "utf8").split("\n").filter(Boolean).reduce((n, l) => n + Number(l), 0) : 0;
let passed = 0;
let failed = 0;
let files = 0;
if (existsSync(reportFile)) {
  const report = JSON.parse(readFileSync(reportFile, "utf8"));
  passed = report.numPassedTests;
  failed = report.numFailedTests;
  files = report.numTotalTestSuites;
}
const stats = existsSync(statsFile) ? readFileSync(statsFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
rmSync(dir, { recursive: true, force: true });

const summary = { fuzzRuns: Number(runs), properties: passed + failed, cases, seconds: Math.round(seconds * 10) / 10, failures: failed, exitCode: result.status, stalls: stats };
console.log(`\nfuzz summary: ${JSON.stringify(summary)}`);

if (process.argv.includes("--write")) {
  const md = `# Fuzz campaign

Command: \`FUZZ_RUNS=${runs} node scripts/fuzz.mjs --write\` (the default \`pnpm fuzz\` uses FUZZ_RUNS=25000).

| date | node | cores | FUZZ_RUNS | properties | cases | time | failures |
| --- | --- | --- | --- | --- | --- | --- | --- |
| ${new Date().toISOString().slice(0, 10)} | ${process.version} | ${cpus().length} | ${runs} | ${passed + failed} | ${cases.toLocaleString("en-US")} | ${summary.seconds} s | ${failed} |

Cases are the fast-check runs every property was configured for (test/hardening/fuzz.ts records
them); a property that passed ran all of its cases. What is fuzzed: every mechanism's client half
(random challenges, near-valid SCRAM server-first/server-final, near-valid DIGEST-MD5
digest-challenges and rspauth, OAuth JSON errors), every server
half (random and mutated honest client messages), the SMTP reply/capability parser, the IMAP
response parser and tokenizer, the POP3 line parser, smtp-server's command parsing, and the
base64, PLAIN, dot-stuffing, reply-format and IMAP LOGIN-argument round trips (test/fuzz-*.test.ts).
Each run has a 2 s timeout, so a hang fails the property.
${
  stats.length
    ? `
## Event-loop stalls and peak heap

The embedded server's DATA, BDAT and command parsing are fuzzed on the wire (a live server in the
test process, a raw client per case, bodies and lines built from repeated hostile units: bare CR
and LF, fake terminators, stuffed dots, 200-byte runs, up to about 1 MB each). While they run,
\`monitorEventLoopDelay\` records the longest stall and the heap is sampled every 20 ms. The
stall is an upper bound for the server: the test process also builds the inputs and runs the
reference decoder, and a loaded machine delays the whole process (load average at the end of this
run, 1 / 5 / 15 min: ${load}, on ${cpus().length} cores).

| suite | max stall | p99 stall | peak heap |
| --- | --- | --- | --- |
${stats.map((s) => `| ${s.suite} | ${s.maxStallMs} ms | ${s.p99StallMs} ms | ${s.peakHeapMiB} MiB |`).join("\n")}
`
    : ""
}`;
  writeFileSync(join(root, "bench", "results", "fuzz.md"), md);
  console.log("wrote bench/results/fuzz.md");
}
process.exit(result.status ?? 1);
