// Where a session's time goes in a fresh process: the harness's "sessions" scenario (connect,
// EHLO, AUTH PLAIN, one 1 KiB message, QUIT; n sessions one after another), run by floor-node,
// by floor-node's own loop with the guarantees saslkit's transport gives added to it, by saslkit's
// transport alone (`LineSocket`, the same wire exchange and nothing else) and by saslkit's
// `sendMail`. A diagnosis of issue 12, not a client: the rows between the floor and saslkit are
// copies of floor-node's session loop with one thing added each.
//
//   node bench/session-layers.mjs --harness <harness copy>/bench [--reps 7] [--counts 500,2000] [--out file.md]
//
// Every run is a fresh process pinned to CPU 0 with the harness's C sink, alternating rows.
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { option } from "./lib/cli.mjs";
import { layerRows, load, ratioTable, requireHarness, startSink, timeRows, writeLayerReport } from "./lib/pinned.mjs";

const harness = option("harness");
const reps = Number(option("reps", "7"));
const out = option("out");
const port = Number(option("port", "28987"));
const counts = (option("counts", "500,2000") ?? "").split(",").map(Number);
requireHarness(harness, "node bench/session-layers.mjs --harness <harness copy>/bench");

const AUTH = `AUTH PLAIN ${Buffer.from("\0bench\0bench-pass-123").toString("base64")}\r\n`;
const ENVELOPE = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";
const END = Buffer.from(".\r\n");
const MAX_LINE = 4096;

/**
 * floor-node's reply reader (final lines of the next k replies), with, when `guarded`, what
 * saslkit's transport adds on every connection: a deadline on every read (a timer), the end of
 * the stream and errors failing the read, lines decoded as UTF-8 from bytes with a bound on their
 * length, and writes of one tick joined into one socket write. `deadlines` adds the timer alone.
 */
class Conn {
  constructor(sock, { guarded, deadlines }) {
    this.sock = sock;
    this.guarded = guarded;
    this.deadlines = deadlines || guarded;
    this.text = "";
    this.bytes = null;
    this.finals = [];
    this.want = 0;
    this.waiter = null;
    this.timer = undefined;
    this.held = [];
    this.onData = (d) => this.data(d);
    this.onFail = (e) => this.fail(e instanceof Error ? e : new Error("the connection ended"));
    this.flush = () => {
      const held = this.held;
      this.held = [];
      this.sock.write(held.length === 1 ? held[0] : Buffer.concat(held.map((x) => (typeof x === "string" ? Buffer.from(x) : x))));
    };
    sock.setNoDelay(true);
    sock.on("data", this.onData);
    sock.on("error", this.onFail);
    sock.on("close", this.onFail);
    if (guarded) sock.on("end", this.onFail);
  }
  data(d) {
    if (this.guarded) {
      this.bytes = this.bytes ? Buffer.concat([this.bytes, d]) : d;
      for (let i = this.bytes.indexOf(10); i >= 0; i = this.bytes ? this.bytes.indexOf(10) : -1) {
        if (i > MAX_LINE) return this.fail(new Error("line too long"));
        const line = this.bytes.toString("utf8", 0, i);
        this.bytes = i + 1 === this.bytes.length ? null : this.bytes.subarray(i + 1);
        if (line.length >= 3 && line.charCodeAt(3) !== 45) this.finals.push(line);
      }
      if (this.bytes && this.bytes.length > MAX_LINE) return this.fail(new Error("line too long"));
    } else {
      this.text += d.toString("latin1");
      for (let i = this.text.indexOf("\n"); i >= 0; i = this.text.indexOf("\n")) {
        const line = this.text.slice(0, i);
        this.text = this.text.slice(i + 1);
        if (line.length >= 3 && line.charCodeAt(3) !== 45) this.finals.push(line);
      }
    }
    this.check();
  }
  check() {
    if (this.waiter && this.finals.length >= this.want) {
      const w = this.waiter;
      this.waiter = null;
      if (this.deadlines) clearTimeout(this.timer);
      w.resolve(this.finals.splice(0, this.want));
    }
  }
  fail(error) {
    if (!this.waiter) return;
    const w = this.waiter;
    this.waiter = null;
    if (this.deadlines) clearTimeout(this.timer);
    w.reject(error);
  }
  expect(...codes) {
    return new Promise((resolve, reject) => {
      this.want = codes.length;
      if (this.deadlines) this.timer = setTimeout(() => this.fail(new Error("timeout")), 30000).unref();
      this.waiter = {
        resolve: (lines) => {
          for (let k = 0; k < codes.length; k++) if (Number(lines[k].slice(0, 3)) !== codes[k]) return reject(new Error(`expected ${codes[k]}: ${lines[k]}`));
          resolve(lines);
        },
        reject,
      };
      this.check();
    });
  }
  send(x) {
    if (!this.guarded) return void this.sock.write(x);
    if (this.held.push(x) === 1) process.nextTick(this.flush);
  }
  close() {
    this.sock.removeListener("data", this.onData);
    this.sock.removeListener("error", this.onFail);
    this.sock.removeListener("close", this.onFail);
    if (this.guarded) this.sock.removeListener("end", this.onFail);
    this.sock.destroy();
  }
}

async function floorSessions(n, message, features) {
  for (let i = 0; i < n; i++) {
    const sock = net.connect({ host: "127.0.0.1", port });
    if (features.guarded) await new Promise((resolve, reject) => sock.once("connect", resolve).once("error", reject));
    const c = new Conn(sock, features);
    await c.expect(220);
    c.send("EHLO bench-client\r\n");
    await c.expect(250);
    c.send(AUTH);
    await c.expect(235);
    c.send(Buffer.from(ENVELOPE));
    await c.expect(250, 250, 354);
    c.send(Buffer.concat([message, END]));
    c.send("QUIT\r\n");
    await c.expect(250, 221);
    c.close();
  }
}

if (option("child")) {
  const row = option("child");
  const n = Number(option("n"));
  const message = readFileSync(join(harness, ".cache/msg-1024.eml"));
  const t0 = performance.now();
  await floorSessions(n, message, { deadlines: row === "deadlines", guarded: row === "guarded" });
  console.log(JSON.stringify({ ok: true, wall_ms: performance.now() - t0 }));
  process.exit(0);
}

const sink = await startSink(harness, port);
const { floor, saslkit, child } = layerRows(harness, port, fileURLToPath(import.meta.url), "sessions");
const rows = {
  "floor-node": floor,
  "floor + a deadline per read": child("deadlines"),
  "floor + the transport's guarantees": child("guarded"),
  // warmup.mjs's diagnostic loop: the same sessions written straight on LineSocket.
  "saslkit's transport alone": (n) => ["node", fileURLToPath(new URL("warmup.mjs", import.meta.url)), "--harness", harness, "--port", String(port), "--child", "transport-sessions", "--n", String(n)],
  "saslkit (sendMail)": saslkit,
};
const loadStart = load();
const wall = timeRows(harness, sink, rows, counts, reps);
const table = ratioTable(wall, counts);
writeLayerReport({
  title: "A session by layer: n sessions one after another, fresh processes",
  command: `node bench/session-layers.mjs --harness <harness copy>/bench --reps ${reps}${out ? ` --out ${out}` : ""}`,
  loadStart,
  about: [
    "Each session: connect, EHLO, AUTH PLAIN, one 1 KiB message, QUIT (the harness's `sessions` scenario). Every run is a fresh process pinned to CPU 0 with the harness's C sink; median wall time of the runs; in brackets floor-node's time over the row's (the harness's ratio).",
    "",
    "- floor + a deadline per read: floor-node's loop with a timer set and cleared around every reply it waits for.",
    "- floor + the transport's guarantees: that, plus what `LineSocket` does on every connection: the connect awaited before the greeting is read, the end of the stream failing a read, lines decoded as UTF-8 from bytes with a bound on their length, writes of one tick joined into one socket write.",
    "- saslkit's transport alone: the same wire exchange written straight on `LineSocket`.",
  ],
  firstColumn: "row",
  counts,
  table,
  out,
});
