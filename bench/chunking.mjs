// BDAT (RFC 3030 CHUNKING) against DATA for one big message, against the real Postfix and the
// embedded server (@saslkit/smtp-server), which offers CHUNKING.
//
//   export SASLKIT_SERVERS_PORT_BASE=28000 SASLKIT_SERVERS_DIR=/tmp/saslkit-servers-perf
//   bash test/servers/start.sh                 # Postfix + Dovecot on loopback (root or sudo)
//   pnpm exec tsc -b && node bench/chunking.mjs [--mib 100] [--reps 3] [--out FILE]
//
// The message is the file bench/memory.mjs generates (64-byte CRLF lines, one in 64 starting
// with "."), streamed with fs.createReadStream (1 MiB chunks). Each repetition sends it once with
// BDAT (the default when offered) and once with `chunking: false` (DATA), alternately, in this
// process, over STARTTLS for Postfix (plain TCP for the embedded server). Reported: median wall
// time to the final reply (the server has queued the message), MB/s, client CPU. The server's
// own work (Postfix cleanup writing the queue file, then LMTP into Dovecot) is part of the wall
// time, so compare the two columns of one row only. The embedded server runs in this process
// (keeping no message): its CPU is counted with the client's.
import { createReadStream, existsSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SmtpClient } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
import { option, postfixOptions, serversEnv } from "./lib/cli.mjs";

const args = process.argv.slice(2);
const opt = option;
const MIB = Number(opt("mib", 100));
const REPS = Number(opt("reps", 3));
const FILE = join(tmpdir(), `saslkit-bench-memory-${MIB}MiB.eml`);
if (!existsSync(FILE) || statSync(FILE).size !== MIB << 20) {
  console.error(`${FILE} is missing: run  node --expose-gc bench/memory.mjs --mib ${MIB} --chunks 1m  once to generate it.`);
  process.exit(1);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function sendOnce(options, envelope, chunking) {
  const client = await SmtpClient.connect({ ...options, chunking });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const result = await client.send(createReadStream(FILE, { highWaterMark: 1 << 20 }), envelope);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  const used = client.capabilities.chunking && chunking;
  await client.quit();
  if (result.reply.code !== 250) throw new Error(`not accepted: ${result.reply.code}`);
  return { ms, cpuMs: (c.user + c.system) / 1000, bytes: result.bytes, bdat: used };
}

async function measure(name, options, envelope) {
  const probe = await SmtpClient.connect(options);
  const offered = probe.capabilities.chunking;
  await probe.quit();
  if (!offered) return { name, skipped: "the server does not offer CHUNKING" };
  const runs = { bdat: [], data: [] };
  for (let r = 0; r < REPS; r++) {
    for (const mode of r % 2 ? ["data", "bdat"] : ["bdat", "data"]) runs[mode].push(await sendOnce(options, envelope, mode === "bdat"));
  }
  const row = { name };
  for (const mode of ["bdat", "data"]) {
    const ms = median(runs[mode].map((x) => x.ms));
    row[mode] = { ms, mbps: (MIB * 1048576) / 1e6 / (ms / 1000), cpuMs: median(runs[mode].map((x) => x.cpuMs)), bytes: runs[mode][0].bytes };
  }
  process.stderr.write(`${name}: BDAT ${row.bdat.mbps.toFixed(0)} MB/s (CPU ${row.bdat.cpuMs.toFixed(0)} ms), DATA ${row.data.mbps.toFixed(0)} MB/s (CPU ${row.data.cpuMs.toFixed(0)} ms)\n`);
  return row;
}

const rows = [];
const dir = process.env.SASLKIT_SERVERS_DIR ?? "/tmp/saslkit-servers";
if (existsSync(join(dir, "env.json"))) {
  const env = serversEnv();
  const alice = env.users.alice;
  rows.push(
    await measure(
      "Postfix (STARTTLS)",
      postfixOptions(env, { mechanisms: [plain] }),
      { from: alice.address, to: [alice.address] },
    ),
  );
} else rows.push({ name: "Postfix", skipped: `no ${join(dir, "env.json")} (start test/servers/start.sh)` });

const { SmtpServer } = await import("@saslkit/smtp-server");
const server = await SmtpServer.start({
  mechanisms: [plain],
  callbacks: { verifyPassword: (u, p) => u === "bench" && p === "bench-Secret-1" },
  keepMessages: 0,
  maxMessageBytes: 2 * (MIB << 20),
});
try {
  rows.push(
    await measure(
      "embedded @saslkit/smtp-server",
      { host: server.host, port: server.port, tls: "none", ehloName: "bench.example", auth: { username: "bench", password: "bench-Secret-1" }, mechanisms: [plain] },
      { from: "bench@example.org", to: ["rcpt@example.org"] },
    ),
  );
} finally {
  await server.close();
}

const cell = (x) => `${x.mbps.toFixed(0)} MB/s, ${(x.ms / 1000).toFixed(2)} s, CPU ${x.cpuMs.toFixed(0)} ms`;
const lines = [
  `# BDAT vs DATA, one ${MIB} MiB message streamed from a file (median of ${REPS})`,
  "",
  `Command: \`node bench/chunking.mjs ${args.join(" ")}\`; ${new Date().toISOString()}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")} at the end.`,
  "",
  "| server | BDAT | DATA |",
  "|---|---|---|",
  ...rows.map((r) => (r.skipped ? `| ${r.name} | skipped: ${r.skipped} | |` : `| ${r.name} | ${cell(r.bdat)} | ${cell(r.data)} |`)),
  "",
];
const out = opt("out", null);
if (out) writeFileSync(out, lines.join("\n"));
process.stdout.write(lines.join("\n"));
