// What each layer of the send path costs in a fresh process: n messages over one connection
// (the harness's "reuse" scenario), from the raw Node client up to saslkit's `sendMany`, each row
// adding one layer. A diagnosis of where the distance to the floor is, not a client: the middle
// rows skip what the library must do (a typed error per failure, deadlines per phase, results,
// the write queue, the iterator), so they bound what a rewrite of the layers above them could reach.
//
// Rows (each a fresh process pinned to CPU 0 with the harness's C sink, timed from before the
// connect to the end, as the harness times its adapters):
// - floor-node: the harness's raw Node client.
// - transport only: the same exchange written on `LineSocket` (no checks at all).
// - + minimal SMTP: over `LineSocket`, the least an SMTP client must do per message: both
//   addresses checked by one regex, the body through the `DotEncoder` (dots and line ends), every
//   reply line checked and its code compared; callbacks, no promise of its own.
// - + saslkit's pieces: the client's own per-message functions composed with nothing else
//   (`prepareMessage`, `mailCommand`, `envelopeLines`, `DotEncoder`, `ReplyParser`), results
//   yielded by an async generator.
// - saslkit: the harness adapter (`client.sendMany`).
//
// Usage (after one run of bench/harness/run.sh, whose copy holds the built sink and the message):
//   node bench/layers.mjs --harness /tmp/saslkit-harness.XXXXXX/bench [--reps 7] [--out bench/results/layers.md]
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { option } from "./lib/cli.mjs";
import { layerRows, load, ratioTable, requireHarness, startSink, timeRows, writeLayerReport } from "./lib/pinned.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const harness = option("harness");
const reps = Number(option("reps", "7"));
const out = option("out");
const port = Number(option("port", "28985"));
const counts = (option("counts", "300,2000") ?? "").split(",").map(Number);
requireHarness(harness, "node bench/layers.mjs --harness <harness copy>/bench");

// --- the layer loops (run as a child: `--child <layer> --n <n>`) ---
if (option("child")) {
  const layer = option("child");
  const n = Number(option("n"));
  const smtp = (file) => import(pathToFileURL(join(here, "../packages/smtp/dist", file)).href);
  const { LineSocket, Deadline, TransportError } = await import("@saslkit/transport");
  const { DotEncoder } = await smtp("data.js");
  const { prepareMessage } = await smtp("message.js");
  const { mailCommand, envelopeLines } = await smtp("transaction.js");
  const { ReplyParser } = await smtp("reply.js");
  const DONE = new TransportError("closed", "The session is over.");
  const message = readFileSync(join(harness, ".cache/msg-1024.eml"));
  const envelope = { from: "a@b.c", to: ["d@e.f"] };
  const AUTH = `AUTH PLAIN ${Buffer.from("\0bench\0bench-pass-123").toString("base64")}\r\n`;
  const deadline = () => Deadline.in(30000);
  // Reads `k` replies' final lines; with `check`, every line's syntax and every code too.
  const codes = (k, check) => {
    const got = [];
    return (next) => {
      for (let line = next(); line !== undefined; line = next()) {
        const sep = line.length === 3 ? 32 : line.charCodeAt(3);
        if (check) {
          const c0 = line.charCodeAt(0), c1 = line.charCodeAt(1), c2 = line.charCodeAt(2);
          if (!(c0 >= 50 && c0 <= 53 && c1 >= 48 && c1 <= 57 && c2 >= 48 && c2 <= 57 && (sep === 32 || sep === 45))) throw new Error(`not a reply: ${line}`);
        }
        if (sep !== 45 && got.push(check ? (line.charCodeAt(0) - 48) * 100 + (line.charCodeAt(1) - 48) * 10 + line.charCodeAt(2) - 48 : 0) === k) return got;
      }
      return undefined;
    };
  };
  const t0 = performance.now();
  const socket = await LineSocket.connect({ host: "127.0.0.1", port });
  await socket.readParsed(deadline(), "a reply", codes(1, true));
  socket.write("EHLO bench\r\n");
  await socket.readParsed(deadline(), "a reply", codes(1, true));
  socket.write(AUTH);
  await socket.readParsed(deadline(), "a reply", codes(1, true));
  let sent = 0;
  if (layer === "transport") {
    const ENVELOPE = "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n";
    const END = Buffer.from(".\r\n");
    socket.write(ENVELOPE);
    await socket.readParsed(deadline(), "a reply", codes(3, false));
    for (let i = 0; i < n; i++, sent++) {
      const last = i === n - 1;
      socket.write(Buffer.concat([message, END]));
      socket.write(last ? "QUIT\r\n" : ENVELOPE);
      await socket.readParsed(deadline(), "a reply", codes(last ? 2 : 4, false));
    }
  } else if (layer === "minimal") {
    const ADDRESS = /^[!#-;=?-~]{0,320}$/;
    const envelopeOf = (e) => {
      if (!ADDRESS.test(e.from) || !ADDRESS.test(e.to[0])) throw new Error("address");
      return `MAIL FROM:<${e.from}> BODY=8BITMIME\r\nRCPT TO:<${e.to[0]}>\r\nDATA\r\n`;
    };
    socket.write(envelopeOf(envelope));
    await socket.readParsed(deadline(), "a reply", codes(3, true));
    await new Promise((resolve, reject) => {
      const step = (got) => {
        if (got) {
          for (let k = 0; k < got.length; k++) if (got[k] >= 400) return reject(new Error(`refused: ${got[k]}`));
          sent++;
        }
        if (sent === n) return resolve();
        const last = sent === n - 1;
        const pieces = [];
        new DotEncoder().encodeWholeInto(message, pieces);
        socket.writePieces(pieces, { deadline: deadline() });
        socket.write(last ? "QUIT\r\n" : envelopeOf(envelope));
        socket.readParsed(deadline(), "a reply", codes(last ? 2 : 4, true)).then(step, reject);
      };
      step(undefined);
    });
  } else if (layer === "pieces") {
    const caps = { eightBitMime: true, smtpUtf8: true, pipelining: true };
    const parser = new ReplyParser();
    const replies = (k) => {
      const got = [];
      return (next) => {
        for (let line = next(); line !== undefined; line = next()) {
          const reply = parser.push(line);
          if (reply && got.push(reply) === k) return got;
        }
        return undefined;
      };
    };
    const group = (prepared) => `${envelopeLines(mailCommand(prepared, caps), prepared.envelope.to)}DATA\r\n`;
    let prepared = prepareMessage(message, envelope);
    socket.write(group(prepared));
    await socket.readParsed(deadline(), "a reply", replies(3));
    async function* results() {
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const pieces = [];
        const bytes = new DotEncoder().encodeWholeInto(prepared.bytes, pieces);
        socket.writePieces(pieces, { deadline: deadline() });
        const next = last ? undefined : prepareMessage(message, envelope);
        socket.write(next ? group(next) : "QUIT\r\n");
        const got = await socket.readParsed(deadline(), "a reply", replies(last ? 2 : 4));
        for (const reply of got) if (reply.code >= 400) throw new Error(`refused: ${reply.code}`);
        yield { ok: true, result: { reply: got[0], bytes, messageId: prepared.messageId } };
        prepared = next;
      }
    }
    for await (const r of results()) if (r.ok) sent++;
  }
  socket.destroy(DONE);
  if (sent !== n) throw new Error(`sent ${sent} of ${n}`);
  console.log(JSON.stringify({ ok: true, wall_ms: performance.now() - t0 }));
  process.exit(0);
}

// --- the runner ---
const sink = await startSink(harness, port);
const { floor, saslkit, child } = layerRows(harness, port, fileURLToPath(import.meta.url), "reuse");
const rows = {
  "floor-node": floor,
  "transport only": child("transport"),
  "+ minimal SMTP": child("minimal"),
  "+ saslkit's pieces": child("pieces"),
  "saslkit (sendMany)": saslkit,
};
const loadStart = load();
const wall = timeRows(harness, sink, rows, counts, reps);
const table = ratioTable(wall, counts);
writeLayerReport({
  title: "The send path by layer: n messages over one connection, fresh processes",
  command: `node bench/layers.mjs --harness <harness copy>/bench --reps ${reps}${out ? ` --out ${out}` : ""}`,
  loadStart,
  about: [
    "Every run is a fresh process pinned to CPU 0 with the harness's C sink; median wall time of the runs, from before the connect to the end; in brackets floor-node's time over the row's (the harness's ratio).",
  ],
  firstColumn: "layers",
  counts,
  table,
  out,
});
