// The client's CPU alone for one 100 MiB message streamed from a file (1 MiB chunks), BDAT and
// DATA, against the Node sink (bench/lib/sink-server.mjs) in its own process moved to CPU 1:
// bench/chunking.mjs counts the embedded server's CPU with the client's and waits on Postfix,
// so a small change in the client's send path drowns there. Compares two builds of the tree.
//
//   taskset -c 0 node bench/chunking-cpu.mjs [--tree DIR] [--reps 7]
//
// `--tree` is a checkout whose packages are built (`pnpm -r build`), default this one. Each path
// sends once to warm up, then `--reps` times; printed: one JSON line with the median client CPU
// (process.cpuUsage over the send) and wall time per path, and every sample. The message is the
// file bench/memory.mjs generates (run it once with --mib 100; its lines end in CRLF, so the
// sink must see exactly its SHA-256 for every message, or the run fails). Run two trees alternately, in
// fresh processes, several times (see bench/results/chunking-bdat-contract.md).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { option } from "./lib/cli.mjs";

const tree = resolve(String(option("tree", fileURLToPath(new URL("..", import.meta.url)))));
const REPS = Number(option("reps", 7));
const FILE = join(tmpdir(), "saslkit-bench-memory-100MiB.eml");
if (!existsSync(FILE)) {
  console.error(`${FILE} is missing: run  node --expose-gc bench/memory.mjs --mib 100 --chunks 1m  once to generate it.`);
  process.exit(1);
}
const { SmtpClient } = await import(join(tree, "packages/smtp/dist/index.js"));
const { plain } = await import(join(tree, "packages/mech-plain/dist/index.js"));
const { startSink, SINK_USER, SINK_PASSWORD } = await import(join(tree, "bench/lib/sink-server.mjs"));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fileHash = createHash("sha256").update(readFileSync(FILE)).digest("hex");

const out = {};
for (const path of ["bdat", "data"]) {
  const sink = await startSink({ chunking: path === "bdat" });
  execFileSync("taskset", ["-p", "-c", "1", String(sink.pid)], { stdio: "ignore" });
  const cpu = [];
  const wall = [];
  try {
    for (let r = 0; r <= REPS; r++) {
      const client = await SmtpClient.connect({ host: sink.host, port: sink.port, tls: "none", ehloName: "bench.example", auth: { username: SINK_USER, password: SINK_PASSWORD }, mechanisms: [plain] });
      if (client.capabilities.chunking !== (path === "bdat")) throw new Error(`the sink should ${path === "bdat" ? "" : "not "}offer CHUNKING`);
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const result = await client.send(createReadStream(FILE, { highWaterMark: 1 << 20 }), { from: "a@example.test", to: ["b@example.test"] });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const c = process.cpuUsage(c0);
      await client.quit();
      if (result.reply.code !== 250) throw new Error(`not accepted: ${result.reply.code}`);
      if (r === 0) continue; // warm-up
      cpu.push((c.user + c.system) / 1000);
      wall.push(ms);
    }
    const stats = await sink.stats();
    if (stats.messages !== REPS + 1 || stats.hashes[fileHash] !== REPS + 1 || stats.chunked !== (path === "bdat" ? REPS + 1 : 0)) {
      throw new Error(`${path}: not verified: ${JSON.stringify({ messages: stats.messages, chunked: stats.chunked, hashes: stats.hashes, errors: stats.errors })}`);
    }
  } finally {
    await sink.close();
  }
  out[path] = { cpuMs: median(cpu), wallMs: median(wall), cpu, wall };
}
console.log(JSON.stringify(out));
