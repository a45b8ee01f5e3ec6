// Throughput of SmtpPool against the real Postfix (test/servers) with 1, 2, 4 and 8 connections.
//
//   export SASLKIT_SERVERS_PORT_BASE=28000 SASLKIT_SERVERS_DIR=/tmp/saslkit-servers-perf
//   bash test/servers/start.sh                       # Postfix + Dovecot on loopback (root or sudo)
//   pnpm exec tsc -b && node bench/pool.mjs [--messages 400] [--tls starttls|none] [--out FILE]
//   bash test/servers/stop.sh
//
// Each configuration: a fresh pool (STARTTLS + AUTH PLAIN as alice, maxMessagesPerConnection
// 100), `--messages` 1 KiB messages handed to `pool.send` at once, timed until the last final
// reply (Postfix has queued it), then `close()`. Reports messages/s, connections opened, and the
// load average (the machine is shared: compare rows of one run only). Postfix's own work
// (cleanup, queue manager, LMTP delivery to Dovecot) shares the same 2 cores, so the curve shows
// where the server, not the client, becomes the limit. Correctness is in
// test/smtp-pool-postfix.test.ts, not here.
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createPool } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
import { option, postfixOptions, serversEnv } from "./lib/cli.mjs";

const args = process.argv.slice(2);
const opt = option;
const MESSAGES = Number(opt("messages", 400));
const TLS = opt("tls", "starttls");
const env = serversEnv();
const alice = env.users.alice;
const body = (i) =>
  `From: <${alice.address}>\r\nTo: <${alice.address}>\r\nSubject: pool bench ${i}\r\nMessage-ID: <pool-bench-${Date.now()}-${i}@${env.domain}>\r\n\r\n` +
  ".x".padEnd(1024 - 120, "y") +
  "\r\n";

const rows = [];
for (const connections of [1, 2, 4, 8]) {
  const pool = createPool({
    connection: postfixOptions(env, { tls: TLS, mechanisms: [plain], policy: { force: "PLAIN" } }),
    maxConnections: connections,
  });
  const t0 = process.hrtime.bigint();
  const results = await Promise.allSettled(Array.from({ length: MESSAGES }, (_, i) => pool.send(body(i), { from: alice.address, to: [alice.address] })));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const stats = pool.stats;
  await pool.close();
  const ok = results.filter((r) => r.status === "fulfilled").length;
  const row = { connections, ok, failed: MESSAGES - ok, ms, perSecond: (ok / ms) * 1000, opened: stats.connectionsOpened, load: loadavg()[0] };
  rows.push(row);
  process.stderr.write(`${connections} connection(s): ${ok}/${MESSAGES} in ${ms.toFixed(0)} ms, ${row.perSecond.toFixed(0)} msg/s, ${stats.connectionsOpened} opened, load ${row.load.toFixed(2)}\n`);
}
const lines = [
  `# SmtpPool throughput against Postfix (${MESSAGES} messages of 1 KiB, TLS ${TLS})`,
  "",
  `Command: \`node bench/pool.mjs ${args.join(" ")}\`; ${new Date().toISOString()}, node ${process.version}.`,
  "",
  "| connections | messages/s | ms | failed | connections opened | load average (1 min) |",
  "|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.connections} | ${r.perSecond.toFixed(0)} | ${r.ms.toFixed(0)} | ${r.failed} | ${r.opened} | ${r.load.toFixed(2)} |`),
  "",
];
const out = opt("out", null);
if (out) writeFileSync(out, lines.join("\n"));
process.stdout.write(lines.join("\n"));
