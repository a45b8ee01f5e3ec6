// Memory while streaming one big message: RSS above idle for each chunk size the body arrives in.
//
//   taskset -c 0 node --expose-gc bench/memory.mjs [--mib 100] [--chunks 16k,64k,256k,1m,4m] [--out FILE]
//
// The message is a file (generated once in the temp dir: 64-byte CRLF lines, one in 64 starting
// with ".", so dot-stuffing is exercised) read with fs.createReadStream({ highWaterMark: chunk }),
// the way an application streams an attachment or a stored message. Each chunk size runs in its
// own fresh process (RSS is per process and never shrinks much): connect and authenticate, force
// a GC, take the idle RSS, then `sendMail`-style `client.send` + `quit` while sampling RSS every
// 5 ms (a 'data' listener would switch the stream to flowing mode and lose chunks). Reported: idle RSS, peak RSS above idle, MB/s (loaded machines:
// only the memory column is meant to be compared). The Node sink (bench/lib/sink-server.mjs, its
// own process) un-dot-stuffs and hashes the body; the run fails unless the hash is the file's.
// Target (issue: memory flat whatever the chunk size): peak above idle <= 32 MiB for every chunk size.
import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir, loadavg, cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SINK_PASSWORD, SINK_USER, startSink } from "./lib/sink-server.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
};
const MIB = Number(opt("mib", 100));
const parseSize = (s) => {
  const m = /^(\d+)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad chunk size ${s}`);
  return Number(m[1]) * (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1 << 20 : 1);
};
const CHUNKS = String(opt("chunks", "16k,64k,256k,1m,4m")).split(",").map(parseSize);
const FILE = join(tmpdir(), `saslkit-bench-memory-${MIB}MiB.eml`);
const FROM = "sender@example.test";
const TO = "rcpt@example.test";

function makeFile() {
  const size = MIB << 20;
  if (existsSync(FILE) && statSync(FILE).size === size) return;
  const block = Buffer.alloc(64 * 1024);
  for (let l = 0; l < 1024; l++) {
    const line = (l % 64 === 5 ? "." : "L") + `${String(l).padStart(4, "0")} `.padEnd(61, "abcdefghijklmnopqrstuvwxyz".at(l % 26)) + "\r\n";
    block.write(line, l * 64, "latin1");
  }
  const fd = openSync(FILE, "w");
  for (let i = 0; i < size / block.length; i++) {
    block.write(String(i).padStart(8, "0"), 1, "latin1");
    writeSync(fd, block);
  }
  closeSync(fd);
}

async function fileHash() {
  const h = createHash("sha256");
  for await (const c of createReadStream(FILE, { highWaterMark: 1 << 20 })) h.update(c);
  return h.digest("hex");
}

/** Child: one chunk size, one fresh process. Prints one JSON line on IPC. */
async function child(port, chunk) {
  const { SmtpClient } = await import("@saslkit/smtp");
  const { plain } = await import("@saslkit/mech-plain");
  const client = await SmtpClient.connect({
    host: "127.0.0.1",
    port,
    tls: "none",
    auth: { username: SINK_USER, password: SINK_PASSWORD },
    mechanisms: [plain],
  });
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
  globalThis.gc?.();
  const idle = process.memoryUsage().rss;
  let peak = idle;
  const sample = () => {
    const r = process.memoryUsage().rss;
    if (r > peak) peak = r;
  };
  const timer = setInterval(sample, 5);
  const body = createReadStream(FILE, { highWaterMark: chunk });
  const t0 = process.hrtime.bigint();
  const result = await client.send(body, { from: FROM, to: [TO] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  clearInterval(timer);
  sample();
  await client.quit();
  process.send({ chunk, idle, peak, ms, bytes: result.bytes });
}

async function main() {
  makeFile();
  const expected = await fileHash();
  const sink = await startSink();
  const rows = [];
  let failed = false;
  try {
    for (const chunk of CHUNKS) {
      await sink.reset();
      const proc = fork(fileURLToPath(import.meta.url), ["--child", String(sink.port), String(chunk)], {
        execArgv: ["--expose-gc", ...(process.env.MEMORY_CHILD_FLAGS ? process.env.MEMORY_CHILD_FLAGS.split(" ") : [])],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const row = await new Promise((resolve, reject) => {
        proc.once("message", resolve);
        proc.once("exit", (code) => reject(new Error(`child for ${chunk} exited with ${code}`)));
      });
      await new Promise((r) => proc.once("exit", r));
      const stats = await sink.stats();
      row.verified = stats.messages === 1 && (stats.hashes[expected] ?? 0) === 1;
      if (!row.verified) process.stderr.write(`client sent ${row.bytes} bytes (after stuffing); sink saw: ${JSON.stringify({ messages: stats.messages, bytes: stats.bytes, hashes: stats.hashes, errors: stats.errors })}\n`);
      if (!row.verified) failed = true;
      rows.push(row);
      const above = (row.peak - row.idle) / 1048576;
      process.stderr.write(`chunk ${chunk}: idle ${(row.idle / 1048576).toFixed(1)} MiB, peak +${above.toFixed(1)} MiB, ${((MIB * 1048576) / 1e6 / (row.ms / 1000)).toFixed(0)} MB/s, verified ${row.verified}\n`);
    }
  } finally {
    await sink.close();
  }
  const fmt = (n) => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n >> 10} KiB`);
  const lines = [
    `# Memory while streaming a ${MIB} MiB message, by chunk size`,
    "",
    `Command: \`${process.env.BENCH_COMMAND ?? `node --expose-gc bench/memory.mjs ${args.join(" ")}`.trim()}\``,
    `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(" ")}.`,
    "",
    "| chunk | idle RSS MiB | peak above idle MiB | MB/s (noisy) | verified |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${fmt(r.chunk)} | ${(r.idle / 1048576).toFixed(1)} | ${((r.peak - r.idle) / 1048576).toFixed(1)} | ${((MIB * 1048576) / 1e6 / (r.ms / 1000)).toFixed(0)} | ${r.verified ? "ok" : "FAILED"} |`),
    "",
    "Target: peak above idle <= 32 MiB for every chunk size.",
    "",
  ];
  const out = opt("out", null);
  if (out) writeFileSync(out, lines.join("\n"));
  process.stdout.write(lines.join("\n"));
  if (failed) process.exit(1);
}

if (args[0] === "--child") await child(Number(args[1]), Number(args[2]));
else await main();
