// Where a fresh process's time goes: the warm-up curve of saslkit against the harness's raw Node
// client (floor-node), and the same session or message loop cut down to saslkit's transport alone.
//
// The shared harness (bench/harness/) gives one figure per scenario; this script shows how that
// figure depends on the count: each client runs in a fresh process, pinned to CPU 0 with the
// harness's C sink, for n = 1, 100, 300, 1000, 2000 and 4000 messages on one connection and
// n = 1, 100, 500 and 2000 sessions, and the table gives the median wall time of each and the
// cost of each step between two counts. Where a client's cost per step stops falling, it is
// warm (V8 has compiled its hot functions).
//
// The "transport only" rows are a diagnosis, not a client: the same wire exchange (EHLO, AUTH
// PLAIN with a fixed payload, the pipelined envelope, the body, QUIT) written straight on
// `LineSocket`, with no option check, negotiation, SASL session, transaction logic, result or
// typed error. Their distance from floor-node is what the transport costs; saslkit's distance
// from them is what the SMTP and core layers cost.
//
// `--v8 "<flags>"` runs every client (all three alike) with those V8 flags, to see what each
// tier costs: `--no-opt` (no TurboFan: baseline code only) and `--no-opt --no-sparkplug`
// (interpreter only). A diagnosis of where the time goes, never a way to run the library.
//
// Usage (after one run of bench/harness/run.sh, whose copy holds the built sink and the message):
//   node bench/warmup.mjs --harness /tmp/saslkit-harness.XXXXXX/bench [--reps 3] [--v8 "--no-opt"] [--out bench/results/warmup.md]
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { option } from "./lib/cli.mjs";
import { adapterArgs, finalReplies, load, median, pinnedWallMs, requireHarness, startSink } from "./lib/pinned.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const harness = option("harness");
const reps = Number(option("reps", "3"));
const out = option("out");
const port = Number(option("port", "28975"));
const v8 = (option("v8", "") ?? "").split(" ").filter(Boolean);
requireHarness(harness, "node bench/warmup.mjs --harness <harness copy>/bench");

// --- the diagnostic loop on the transport alone (run as a child: `--child transport-reuse n`) ---
if (option("child")) {
  const { LineSocket, Deadline, TransportError } = await import("@saslkit/transport");
  // As the SMTP client does after QUIT: one shared error, not an Error (and its stack) per close.
  const DONE = new TransportError("closed", "The session is over.");
  const n = Number(option("n"));
  const message = readFileSync(join(harness, ".cache/msg-1024.eml"));
  const ENVELOPE = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";
  const AUTH = `AUTH PLAIN ${Buffer.from("\0bench\0bench-pass-123").toString("base64")}\r\n`;
  const END = Buffer.from(".\r\n");
  const read = (socket, k) => socket.readParsed(Deadline.in(30000), "a reply", finalReplies(k));
  const open = async () => {
    const socket = await LineSocket.connect({ host: "127.0.0.1", port });
    await read(socket, 1);
    socket.write("EHLO bench\r\n");
    await read(socket, 1);
    socket.write(AUTH);
    await read(socket, 1);
    socket.write(ENVELOPE);
    await read(socket, 3);
    return socket;
  };
  const t0 = performance.now();
  if (option("child") === "transport-reuse") {
    const socket = await open();
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      socket.write(Buffer.concat([message, END]));
      socket.write(last ? "QUIT\r\n" : ENVELOPE);
      await read(socket, last ? 2 : 4);
    }
    socket.destroy(DONE);
  } else {
    for (let i = 0; i < n; i++) {
      const socket = await open();
      socket.write(Buffer.concat([message, END]));
      socket.write("QUIT\r\n");
      await read(socket, 2);
      socket.destroy(DONE);
    }
  }
  console.log(JSON.stringify({ wall_ms: performance.now() - t0 }));
  process.exit(0);
}

// --- the runner ---
const sink = await startSink(harness, port);
const common = [...adapterArgs(port)];
const clients = {
  "floor-node": (scenario, n) => ["node", ...v8, join(harness, "clients/floor-node.mjs"), ...common, "--scenario", scenario, "--n", String(n)],
  saslkit: (scenario, n) => ["node", ...v8, join(here, "harness/saslkit-adapter.mjs"), ...common, "--scenario", scenario, "--n", String(n)],
  "transport only": (scenario, n) => ["node", ...v8, fileURLToPath(import.meta.url), "--harness", harness, "--port", String(port), "--child", scenario === "reuse" ? "transport-reuse" : "transport-sessions", "--n", String(n)],
};
const once = (argv) => pinnedWallMs(harness, argv);
const plans = [
  { scenario: "reuse", what: "messages on one connection", counts: [1, 100, 300, 1000, 2000, 4000] },
  { scenario: "sessions", what: "sequential sessions", counts: [1, 100, 500, 2000, 4000] },
];
const loadStart = load();
const sections = [];
try {
  for (const plan of plans) {
    const wall = {};
    for (const name of Object.keys(clients)) wall[name] = Object.fromEntries(plan.counts.map((n) => [n, []]));
    // Alternate clients and counts, so drift on a shared machine spreads over all of them.
    for (let rep = 0; rep < reps; rep++) for (const n of plan.counts) for (const [name, argv] of Object.entries(clients)) wall[name][n].push(once(argv(plan.scenario, n)));
    const rows = Object.keys(clients).map((name) => {
      const m = plan.counts.map((n) => median(wall[name][n]));
      const steps = m.slice(1).map((ms, i) => (((ms - m[i]) * 1000) / (plan.counts[i + 1] - plan.counts[i])).toFixed(0));
      return `| ${name} | ${m.map((ms) => ms.toFixed(1)).join(" | ")} | ${steps.join(" / ")} |`;
    });
    const ratio = plan.counts.map((n) => `${n}: ${(median(wall["floor-node"][n]) / median(wall.saslkit[n])).toFixed(2)}x`).join(", ");
    sections.push(
      [
        `## ${plan.what} (\`--scenario ${plan.scenario}\`)`,
        "",
        `| client | ${plan.counts.map((n) => `n=${n} ms`).join(" | ")} | us per item, between counts |`,
        `|---|${plan.counts.map(() => "---|").join("")}---|`,
        ...rows,
        "",
        `saslkit as a share of floor-node's throughput by count: ${ratio}.`,
      ].join("\n"),
    );
  }
} finally {
  sink.kill();
}
const report = [
  "# Warm-up: where a fresh process's time goes",
  "",
  `Command: \`node bench/warmup.mjs --harness <harness copy>/bench --reps ${reps}${v8.length ? ` --v8 "${v8.join(" ")}"` : ""}${out ? ` --out ${out}` : ""}\``,
  ...(v8.length ? [`Every client ran with the V8 flags \`${v8.join(" ")}\` (a diagnosis: what the tiers cost, not a way to run).`] : []),
  `Date: ${new Date().toISOString()}; node ${process.version}; ${cpus().length} CPUs; load average at start ${loadStart}, at the end ${load()}.`,
  "Every run is a fresh process pinned to CPU 0 with the harness's C sink; medians of the runs. Wall time of the measured section (after imports).",
  "",
  ...sections.flatMap((s) => [s, ""]),
].join("\n");
if (out) writeFileSync(out, report);
console.log(report);
