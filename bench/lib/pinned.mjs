// Shared by the bench scripts that time fresh processes against the shared harness's C sink
// (warmup.mjs, layers.mjs, session-layers.mjs): the sink started pinned to CPU 0, pinned runs
// timed and read back, the adapter arguments, the median, and the layer scripts' rows and report.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Exits with `usage` unless `harness` is a harness copy that has been run once (built sink, cached message). */
export function requireHarness(harness, usage) {
  if (!harness || !existsSync(join(harness, "build/sink")) || !existsSync(join(harness, ".cache/msg-1024.eml"))) {
    console.error(`usage: ${usage} (run bench/harness/run.sh once first: it builds build/sink and .cache/msg-1024.eml)`);
    process.exit(2);
  }
}

/** Starts the harness's sink on `port` (its control port next), pinned to CPU 0; resolves once it listens. Kill it with `.kill()`. */
export async function startSink(harness, port) {
  const sink = spawn("taskset", ["-c", "0", join(harness, "build/sink"), "--port", String(port), "--control-port", String(port + 1), "--user", "bench", "--pass", "bench-pass-123"], { stdio: "ignore" });
  await new Promise((resolve) => setTimeout(resolve, 300));
  return sink;
}

/** The harness's adapter arguments for the sink on `port`: AUTH PLAIN, no TLS, the 1 KiB message. */
export function adapterArgs(port) {
  return ["--host", "127.0.0.1", "--port", String(port), "--user", "bench", "--pass", "bench-pass-123", "--mech", "PLAIN", "--tls", "none", "--from", "a@b.c", "--to", "d@e.f", "--message", ".cache/msg-1024.eml", "--concurrency", "1"];
}

/** Runs `argv` pinned to CPU 0 in the harness folder; the `wall_ms` of the JSON line it prints (a failed run throws). */
export function pinnedWallMs(harness, argv) {
  const r = spawnSync("taskset", ["-c", "0", ...argv], { cwd: harness, encoding: "utf8", timeout: 120000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  const j = line ? JSON.parse(line) : undefined;
  if (!j || j.ok === false) throw new Error(`run failed: ${argv.join(" ")}\n${r.stdout}\n${r.stderr}`);
  return j.wall_ms;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The load average as a report gives it. */
export const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

/** A `LineSocket.readParsed` parser that completes once `k` final reply lines (no "-" after the code) have arrived. */
export function finalReplies(k) {
  let got = 0;
  return (next) => {
    for (let line = next(); line !== undefined; line = next()) if (line.charCodeAt(3) !== 45 && ++got === k) return true;
    return undefined;
  };
}

/**
 * Times every row (a function from a count to the argv of one pinned run) at every count, `reps`
 * times, alternating rows and counts so that drift on a shared machine spreads over all of them;
 * kills `sink` at the end. Returns the wall times, `wall[row][count]`.
 */
export function timeRows(harness, sink, rows, counts, reps) {
  const wall = Object.fromEntries(Object.keys(rows).map((name) => [name, Object.fromEntries(counts.map((n) => [n, []]))]));
  try {
    for (let rep = 0; rep < reps; rep++) for (const n of counts) for (const [name, argv] of Object.entries(rows)) wall[name][n].push(pinnedWallMs(harness, argv(n)));
  } finally {
    sink.kill();
  }
  return wall;
}

/** The table rows of `timeRows`' result: each row's median per count, and in brackets `base`'s median over it. */
export function ratioTable(wall, counts, base = "floor-node") {
  return Object.keys(wall).map((name) => {
    const cells = counts.map((n) => {
      const m = median(wall[name][n]);
      return `${m.toFixed(1)} ms (${(median(wall[base][n]) / m).toFixed(2)}x)`;
    });
    return `| ${name} | ${cells.join(" | ")} |`;
  });
}

/**
 * The argv builders of a layer script's rows against the sink on `port`: the harness's floor-node
 * and saslkit's adapter in the harness `scenario`, and `child(row)`, the script itself (`script`,
 * its file) run with `--child <row>`.
 */
export function layerRows(harness, port, script, scenario) {
  const common = [...adapterArgs(port), "--scenario", scenario];
  const adapter = fileURLToPath(new URL("../harness/saslkit-adapter.mjs", import.meta.url));
  return {
    floor: (n) => ["node", join(harness, "clients/floor-node.mjs"), ...common, "--n", String(n)],
    saslkit: (n) => ["node", adapter, ...common, "--n", String(n)],
    child: (row) => (n) => ["node", script, "--harness", harness, "--port", String(port), "--child", row, "--n", String(n)],
  };
}

/**
 * A layer script's report: `title`, the command that made it, the date, Node and the load at
 * `loadStart` and now, the `about` lines, and `table` (from `ratioTable`) under a header naming
 * `firstColumn` and the counts. Written to `out` when given, and printed.
 */
export function writeLayerReport({ title, command, loadStart, about, firstColumn, counts, table, out }) {
  const report = [
    `# ${title}`,
    "",
    `Command: \`${command}\``,
    `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; load average at start ${loadStart}, at the end ${load()}.`,
    ...about,
    "",
    `| ${firstColumn} | ${counts.map((n) => `n=${n}`).join(" | ")} |`,
    `|---|${counts.map(() => "---|").join("")}`,
    ...table,
    "",
  ].join("\n");
  if (out) writeFileSync(out, report);
  console.log(report);
}
