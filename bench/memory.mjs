// Memory while streaming one big message: RSS above idle for each chunk size the body arrives in.
//
//   taskset -c 0 node --expose-gc bench/memory.mjs [--mib 100] [--chunks 16k,64k,256k,1m,4m] [--paths data,bdat,floor] [--line-ends crlf|lf] [--out FILE]
//
// `--line-ends lf` streams a file of bare-LF lines instead (a Unix text file): the client repairs
// every line end, the encoder's dense path.
//
// Paths: `data` is the client sending with DATA (dot-stuffed); `bdat` the client sending with
// BDAT (the sink offers CHUNKING); `floor` is no SMTP at all, only
// `stream.pipeline(fs.createReadStream(file), socket)` into a discard server: what reading the
// file and writing it to a socket costs in Node before any client code runs. The client cannot
// do better than that row; compare each path's row against it.
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
import { option } from "./lib/cli.mjs";

const args = process.argv.slice(2);
const opt = option;
const MIB = Number(opt("mib", 100));
const parseSize = (s) => {
  const m = /^(\d+)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad chunk size ${s}`);
  return Number(m[1]) * (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1 << 20 : 1);
};
const CHUNKS = String(opt("chunks", "16k,64k,256k,1m,4m")).split(",").map(parseSize);
const PATHS = String(opt("paths", "data,bdat,floor")).split(",");
for (const p of PATHS) if (!["data", "bdat", "floor"].includes(p)) throw new Error(`bad path ${p}: one of data, bdat, floor`);
const LINE_ENDS = String(opt("line-ends", "crlf"));
if (LINE_ENDS !== "crlf" && LINE_ENDS !== "lf") throw new Error(`bad --line-ends ${LINE_ENDS}: crlf or lf`);
const FILE = args[0] === "--child" ? args[4] : join(tmpdir(), `saslkit-bench-memory-${MIB}MiB${LINE_ENDS === "lf" ? "-lf" : ""}.eml`);
const FROM = "sender@example.test";
const TO = "rcpt@example.test";

function makeFile() {
  const size = MIB << 20;
  if (existsSync(FILE) && statSync(FILE).size === size) return;
  const block = Buffer.alloc(64 * 1024);
  for (let l = 0; l < 1024; l++) {
    const text = (l % 64 === 5 ? "." : "L") + `${String(l).padStart(4, "0")} `.padEnd(61, "abcdefghijklmnopqrstuvwxyz".at(l % 26));
    const line = LINE_ENDS === "lf" ? `${text}z\n` : `${text}\r\n`;
    block.write(line, l * 64, "latin1");
  }
  const fd = openSync(FILE, "w");
  for (let i = 0; i < size / block.length; i++) {
    block.write(String(i).padStart(8, "0"), 1, "latin1");
    writeSync(fd, block);
  }
  closeSync(fd);
}

/** The file's SHA-256, and that of the body as the server must receive it (line ends made CRLF). */
async function fileHashes() {
  const raw = createHash("sha256");
  const crlf = createHash("sha256");
  for await (const c of createReadStream(FILE, { highWaterMark: 1 << 20 })) {
    raw.update(c);
    crlf.update(LINE_ENDS === "lf" ? Buffer.from(c.toString("latin1").replaceAll("\n", "\r\n"), "latin1") : c);
  }
  return { raw: raw.digest("hex"), crlf: crlf.digest("hex") };
}

/** Samples RSS every 5 ms from now on; `stop()` returns the peak. */
function sampler() {
  let peak = process.memoryUsage().rss;
  const sample = () => {
    const r = process.memoryUsage().rss;
    if (r > peak) peak = r;
  };
  const timer = setInterval(sample, 5);
  return () => {
    clearInterval(timer);
    sample();
    return peak;
  };
}

async function settledIdle() {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 50));
  globalThis.gc?.();
  return process.memoryUsage().rss;
}

/** Child, floor path: the file piped to a plain socket, no SMTP. */
async function floorChild(port, chunk) {
  const net = await import("node:net");
  const { pipeline } = await import("node:stream/promises");
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setNoDelay(true);
  const idle = await settledIdle();
  const stop = sampler();
  const t0 = process.hrtime.bigint();
  await pipeline(createReadStream(FILE, { highWaterMark: chunk }), socket);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.send({ chunk, idle, peak: stop(), ms, bytes: MIB << 20 });
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
  const idle = await settledIdle();
  const stop = sampler();
  const body = createReadStream(FILE, { highWaterMark: chunk });
  const t0 = process.hrtime.bigint();
  const result = await client.send(body, { from: FROM, to: [TO] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const peak = stop();
  await client.quit();
  process.send({ chunk, idle, peak, ms, bytes: result.bytes });
}

/** A discard server for the floor path (in the parent: only the child's RSS is measured). Hashes what it receives. */
async function startDiscard() {
  const net = await import("node:net");
  let hash = createHash("sha256");
  let bytes = 0;
  const server = net.createServer((socket) => {
    socket.on("data", (c) => {
      hash.update(c);
      bytes += c.length;
    });
    socket.on("error", () => {});
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    take: () => {
      const out = { hex: hash.digest("hex"), bytes };
      hash = createHash("sha256");
      bytes = 0;
      return out;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** One fresh child process for one path and chunk size; resolves with its row. */
async function runChild(path, port, chunk) {
  const proc = fork(fileURLToPath(import.meta.url), ["--child", path, String(port), String(chunk), FILE], {
    execArgv: ["--expose-gc", ...(process.env.MEMORY_CHILD_FLAGS ? process.env.MEMORY_CHILD_FLAGS.split(" ") : [])],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const row = await new Promise((resolve, reject) => {
    proc.once("message", resolve);
    proc.once("exit", (code) => reject(new Error(`child for ${path} ${chunk} exited with ${code}`)));
  });
  if (proc.exitCode === null) await new Promise((r) => proc.once("exit", r));
  return { ...row, path };
}

async function main() {
  makeFile();
  const hashes = await fileHashes();
  const sink = PATHS.includes("data") ? await startSink() : undefined;
  const chunkingSink = PATHS.includes("bdat") ? await startSink({ chunking: true }) : undefined;
  const discard = PATHS.includes("floor") ? await startDiscard() : undefined;
  const rows = [];
  let failed = false;
  try {
    for (const chunk of CHUNKS) {
      for (const path of PATHS) {
        let row;
        if (path === "floor") {
          row = await runChild(path, discard.port, chunk);
          await new Promise((r) => setTimeout(r, 20)); // the last bytes reach the server
          const got = discard.take();
          row.verified = got.hex === hashes.raw;
          if (!row.verified) process.stderr.write(`floor: the discard server saw ${got.bytes} bytes, hash ${got.hex}\n`);
        } else {
          const s = path === "data" ? sink : chunkingSink;
          await s.reset();
          row = await runChild(path, s.port, chunk);
          const stats = await s.stats();
          row.verified = stats.messages === 1 && (stats.hashes[hashes.crlf] ?? 0) === 1 && stats.chunked === (path === "bdat" ? 1 : 0);
          if (!row.verified) process.stderr.write(`${path}: client sent ${row.bytes} bytes; sink saw: ${JSON.stringify({ messages: stats.messages, bytes: stats.bytes, hashes: stats.hashes, chunked: stats.chunked, errors: stats.errors })}\n`);
        }
        if (!row.verified) failed = true;
        rows.push(row);
        const above = (row.peak - row.idle) / 1048576;
        process.stderr.write(`${path} chunk ${chunk}: idle ${(row.idle / 1048576).toFixed(1)} MiB, peak +${above.toFixed(1)} MiB, ${((MIB * 1048576) / 1e6 / (row.ms / 1000)).toFixed(0)} MB/s, verified ${row.verified}\n`);
      }
    }
  } finally {
    await sink?.close();
    await chunkingSink?.close();
    await discard?.close();
  }
  const fmt = (n) => (n >= 1 << 20 ? `${n >> 20} MiB` : `${n >> 10} KiB`);
  const lines = [
    `# Memory while streaming a ${MIB} MiB message${LINE_ENDS === "lf" ? " of bare-LF lines" : ""}, by chunk size`,
    "",
    `Command: \`${process.env.BENCH_COMMAND ?? `node --expose-gc bench/memory.mjs ${args.join(" ")}`.trim()}\``,
    `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(" ")}.`,
    "",
    "| chunk | path | idle RSS MiB | peak above idle MiB | MB/s (noisy) | verified |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${fmt(r.chunk)} | ${PATH_NAMES[r.path]} | ${(r.idle / 1048576).toFixed(1)} | ${((r.peak - r.idle) / 1048576).toFixed(1)} | ${((MIB * 1048576) / 1e6 / (r.ms / 1000)).toFixed(0)} | ${r.verified ? "ok" : "FAILED"} |`),
    "",
    "Target: peak above idle <= 32 MiB for every chunk size.",
    "",
  ];
  const out = opt("out", null);
  if (out) writeFileSync(out, lines.join("\n"));
  process.stdout.write(lines.join("\n"));
  if (failed) process.exit(1);
}

const PATH_NAMES = { data: "DATA", bdat: "BDAT", floor: "floor (no SMTP)" };

if (args[0] === "--child") await (args[1] === "floor" ? floorChild : child)(Number(args[2]), Number(args[3]));
else await main();
