#!/usr/bin/env node
// Load and soak against the local Postfix (issue 6; not part of CI).
//
//   bash test/servers/start.sh            # once: real Postfix + Dovecot on loopback
//   pnpm -r build                         # the bench imports the built packages
//   node bench/load-soak.mjs [--write] [--sessions=1000 --concurrency=100 --soak=10000]
//
// Phase 1 (load): `sessions` SMTP sessions, `concurrency` at a time, each STARTTLS + AUTH + one
// message + QUIT through @saslkit/smtp; the figure that matters is failures (must be 0).
// Phase 2 (soak): `soak` sessions one after another; every 1000 sessions it records the client's
// RSS (after a GC when run with --expose-gc, which the script arranges) and its open handles, so
// a leak shows as a rising column. `--write` records the figures in bench/results/load-soak.md.
import "reflect-metadata";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";

if (typeof globalThis.gc !== "function" && !process.env.LOAD_SOAK_CHILD) {
  // Re-run with --expose-gc so RSS samples are taken after a full collection.
  // --semi-space=N caps V8's young generation (--max-semi-space-size=N MB): with it RSS shows what
  // the client itself holds, without the young generation growing towards its default ceiling.
  const semi = process.argv.find((a) => a.startsWith("--semi-space="))?.split("=")[1];
  const v8 = semi ? [`--max-semi-space-size=${semi}`] : [];
  const r = spawnSync(process.execPath, ["--expose-gc", ...v8, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, LOAD_SOAK_CHILD: "1" } });
  process.exit(r.status ?? 1);
}

const HERE = dirname(fileURLToPath(import.meta.url));
const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const SESSIONS = arg("sessions", 1000);
const CONCURRENCY = arg("concurrency", 100);
const SOAK = arg("soak", 10000);
const SEMI_SPACE = process.argv.find((a) => a.startsWith("--semi-space="))?.split("=")[1];
const RESULTS = SEMI_SPACE ? `load-soak-semi-space-${SEMI_SPACE}.md` : "load-soak.md";
const SAMPLE_EVERY = 1000;

function serverEnv() {
  const raw = process.env.SASLKIT_SERVER_ENV ?? (existsSync(join(process.env.SASLKIT_SERVERS_DIR ?? "/tmp/saslkit-servers", "env.json")) ? readFileSync(join(process.env.SASLKIT_SERVERS_DIR ?? "/tmp/saslkit-servers", "env.json"), "utf8") : undefined);
  if (!raw) throw new Error("No server env: run `bash test/servers/start.sh` first (or set SASLKIT_SERVER_ENV).");
  const env = JSON.parse(raw);
  if (env.unavailable) throw new Error(`Real servers unavailable: ${env.unavailable}`);
  return env;
}

const env = serverEnv();
const { SmtpClient } = await import("@saslkit/smtp");
const { plain } = await import("@saslkit/mech-plain");
const ca = readFileSync(env.caFile, "utf8");
const user = env.users.alice;
const to = `${env.users.bob.name ?? "bob"}@${env.domain}`;
const from = `${user.name ?? "alice"}@${env.domain}`;

async function session(i) {
  const client = await SmtpClient.connect({
    host: env.host,
    port: env.smtp.port,
    tls: "starttls",
    tlsOptions: { ca, servername: env.tlsServerName },
    ehloName: "load-soak.saslkit.test",
    auth: { username: user.name ?? "alice", password: user.password },
    mechanisms: [plain],
    timeouts: { connect: 30000, reply: 20000, data: 20000 },
  });
  try {
    const result = await client.send(`From: <${from}>\r\nTo: <${to}>\r\nSubject: load-soak ${i}\r\n\r\nsession ${i}\r\n`, { from, to: [to] });
    if (result.reply.code !== 250) throw new Error(`final reply ${result.reply.code}`);
  } finally {
    await client.quit();
  }
}

const handles = () => process.getActiveResourcesInfo().filter((r) => r !== "TTYWrap").length;
const heapMb = () => Math.round((process.memoryUsage().heapUsed / 1048576) * 10) / 10;
const rssMb = () => {
  globalThis.gc?.();
  return Math.round((process.memoryUsage().rss / 1048576) * 10) / 10;
};

// Phase 1: load.
console.log(`load: ${SESSIONS} sessions at concurrency ${CONCURRENCY} against ${env.host}:${env.smtp.port}`);
let next = 0;
let failures = 0;
const errors = new Map();
const latencies = [];
const loadStart = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < SESSIONS) {
      const i = next++;
      const t = performance.now();
      try {
        await session(i);
        latencies.push(performance.now() - t);
      } catch (error) {
        failures++;
        const key = `${error.code ?? error.name}: ${error.message}`.slice(0, 160);
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  }),
);
const loadSeconds = (performance.now() - loadStart) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN);
console.log(`load: ${SESSIONS - failures} ok, ${failures} failed in ${loadSeconds.toFixed(1)} s (p50 ${pct(50)} ms, p99 ${pct(99)} ms)`);
for (const [k, n] of errors) console.log(`  ${n} x ${k}`);

// Phase 2: soak.
console.log(`soak: ${SOAK} sequential sessions`);
const sample = (sessions) => ({ sessions, rss: rssMb(), heap: heapMb(), handles: handles() });
const samples = [sample(0)];
let soakFailures = 0;
const soakStart = performance.now();
for (let i = 0; i < SOAK; i++) {
  try {
    await session(SESSIONS + i);
  } catch (error) {
    soakFailures++;
    if (soakFailures <= 5) console.log(`  soak failure at ${i}: ${error.code ?? error.name}: ${error.message}`);
  }
  if ((i + 1) % SAMPLE_EVERY === 0) {
    await new Promise((r) => setImmediate(r));
    samples.push(sample(i + 1));
    console.log(`  ${i + 1}: rss ${samples.at(-1).rss} MB, heap ${samples.at(-1).heap} MB, handles ${samples.at(-1).handles}`);
  }
}
const soakSeconds = (performance.now() - soakStart) / 1000;
const first = samples[1] ?? samples[0];
const last = samples.at(-1);
// Three verdicts, reported separately: handles (a leaked socket or timer), the JS heap after a
// full GC (a leaked object), and RSS (which also holds V8's young generation growing to its
// default size and native TLS memory, so it can rise without any leak).
const handlesFlat = last.handles <= first.handles;
const heapFlat = last.heap - first.heap < 2;
const rssFlat = last.rss - first.rss < 10;
const flat = handlesFlat && heapFlat && rssFlat;
console.log(
  `soak: ${SOAK - soakFailures} ok, ${soakFailures} failed in ${soakSeconds.toFixed(1)} s; ` +
    `rss ${first.rss} -> ${last.rss} MB (${rssFlat ? "flat" : "NOT flat"}), heap ${first.heap} -> ${last.heap} MB (${heapFlat ? "flat" : "NOT flat"}), ` +
    `handles ${first.handles} -> ${last.handles} (${handlesFlat ? "flat" : "NOT flat"})`,
);

if (process.argv.includes("--write")) {
  const md = `# Load and soak against the local Postfix

Command: \`bash test/servers/start.sh && pnpm -r build && node bench/load-soak.mjs --write${SEMI_SPACE ? ` --semi-space=${SEMI_SPACE}` : ""}\`${SEMI_SPACE ? ` (V8 young generation capped: --max-semi-space-size=${SEMI_SPACE})` : ""}
(Postfix ${env.host}:${env.smtp.port}, STARTTLS + AUTH PLAIN through Dovecot's auth socket + one
small message + QUIT per session; client @saslkit/smtp built dist; node ${process.version},
${os.cpus().length} cores, ${new Date().toISOString().slice(0, 10)}.)

## Load: ${SESSIONS} sessions at concurrency ${CONCURRENCY}

| sessions | ok | failed | wall time | sessions/s | p50 | p99 |
| --- | --- | --- | --- | --- | --- | --- |
| ${SESSIONS} | ${SESSIONS - failures} | ${failures} | ${loadSeconds.toFixed(1)} s | ${(SESSIONS / loadSeconds).toFixed(0)} | ${pct(50)} ms | ${pct(99)} ms |
${errors.size ? `\nFailures:\n${[...errors].map(([k, n]) => `- ${n} × ${k}`).join("\n")}\n` : ""}
## Soak: ${SOAK} sequential sessions

${soakFailures} failed, ${soakSeconds.toFixed(1)} s. RSS and the JS heap in use, both after a full GC
(\`--expose-gc\`), and active handles (\`process.getActiveResourcesInfo()\`) every ${SAMPLE_EVERY} sessions.
RSS also holds V8's young generation (it grows under allocation pressure up to its default
semi-space size) and native TLS memory, so it can rise where the heap and handles show no leak.

| sessions | RSS (MB) | JS heap used (MB) | handles |
| --- | --- | --- | --- |
${samples.map((s) => `| ${s.sessions} | ${s.rss} | ${s.heap} | ${s.handles} |`).join("\n")}

From the first thousand to the last: RSS ${first.rss} → ${last.rss} MB (**${rssFlat ? "flat" : "not flat"}**), JS heap after GC ${first.heap} → ${last.heap} MB (**${heapFlat ? "flat" : "not flat"}**), handles ${first.handles} → ${last.handles} (**${handlesFlat ? "flat" : "not flat"}**).
`;
  writeFileSync(join(HERE, "results", RESULTS), md);
  console.log(`wrote bench/results/${RESULTS}`);
}
process.exit(failures || soakFailures || !flat ? 1 : 0);
