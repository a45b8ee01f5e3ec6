// One measurement in its own process, so RSS and event-loop stalls belong to one client only.
// Forked by smtp.mjs with a JSON job in argv[2]; sends one { ok, result | error } over IPC.
//
// job: { client: "raw" | "raw2920" | "nodemailer" | "saslkit", scenario: "many" | "sessions" | "big",
//        host, port, user, password, count, warmup?, steady? }
// Result: { cold, steady? } — the same phases for every client (see `timed` below).
import { monitorEventLoopDelay } from "node:perf_hooks";
import { bigMessageStream, smallMessage } from "./messages.mjs";
import { rawConnect, rawQuit, rawSendMany, rawSendStream, rawSession } from "./raw-client.mjs";
import { nmConnect, nmQuit, nmSend, nmSendMany, nmSession } from "./nodemailer-client.mjs";
import { saslkitUnavailable, skConnect, skQuit, skSend, skSendMany, skSession } from "./saslkit-client.mjs";

const job = JSON.parse(process.argv[2]);
const opts = { host: job.host, port: job.port, user: job.user, password: job.password };
const MiB = 1024 * 1024;

const clients = {
  raw: {
    connect: (o) => rawConnect(o),
    sendMany: (c, m, n) => rawSendMany(c, m, n, "blind"),
    session: (o, m) => rawSession(o, m, "blind"),
    sendStream: (c, r) => rawSendStream(c, r),
    quit: rawQuit,
  },
  raw2920: {
    connect: (o) => rawConnect(o),
    sendMany: (c, m, n) => rawSendMany(c, m, n, "rfc2920"),
    session: (o, m) => rawSession(o, m, "rfc2920"),
    sendStream: (c, r) => rawSendStream(c, r),
    quit: rawQuit,
  },
  nodemailer: { connect: nmConnect, sendMany: nmSendMany, session: nmSession, sendStream: nmSend, quit: nmQuit },
  saslkit: { connect: skConnect, sendMany: skSendMany, session: skSession, sendStream: skSend, quit: skQuit },
};

/**
 * One timed phase. Every client runs the same phases with the same counts:
 *   cold   — the first `count` operations of the process (JIT cold; all modules already loaded);
 *   warm-up — `warmup` more, untimed;
 *   steady — `steady` operations, timed (what the targets are judged on).
 */
async function timed(eld, fn) {
  eld.reset();
  eld.enable();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  eld.disable();
  return { seconds, stallMs: eld.max / 1e6 };
}

async function run() {
  const c = clients[job.client];
  if (!c) throw new Error(`unknown client ${job.client}`);
  // Fairness: every module of every client is loaded before any clock starts (saslkit's
  // packages are otherwise imported lazily, inside its first timed session).
  const why = await saslkitUnavailable();
  if (why && job.client === "saslkit") throw new Error(why);
  const eld = monitorEventLoopDelay({ resolution: 1 });
  const message = smallMessage(1024);

  if (job.scenario === "many") {
    const conn = await c.connect(opts);
    const cold = await timed(eld, () => c.sendMany(conn, message, job.count));
    if (job.warmup) await c.sendMany(conn, message, job.warmup);
    const steady = job.steady ? await timed(eld, () => c.sendMany(conn, message, job.steady)) : undefined;
    await c.quit(conn);
    const rate = (t, n) => ({ ...t, perSecond: n / t.seconds });
    return { cold: rate(cold, job.count), ...(steady ? { steady: rate(steady, job.steady) } : {}) };
  }

  if (job.scenario === "sessions") {
    const sessions = async (n) => {
      for (let i = 0; i < n; i++) await c.session(opts, message);
    };
    const cold = await timed(eld, () => sessions(job.count));
    if (job.warmup) await sessions(job.warmup);
    const steady = job.steady ? await timed(eld, () => sessions(job.steady)) : undefined;
    const rate = (t, n) => ({ ...t, perSecond: n / t.seconds });
    return { cold: rate(cold, job.count), ...(steady ? { steady: rate(steady, job.steady) } : {}) };
  }

  if (job.scenario === "big") {
    const conn = await c.connect(opts);
    const bigRun = async (blocks) => {
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
      let chunks = 0;
      const stream = bigMessageStream({ blocks, onChunk: () => (++chunks % 16 === 0 ? sample() : undefined) });
      const t = await timed(eld, () => c.sendStream(conn, stream));
      clearInterval(timer);
      sample();
      const bytes = blocks * 64 * 1024;
      return { ...t, mbPerSec: bytes / 1e6 / t.seconds, idleRssMiB: idle / MiB, peakAboveIdleMiB: (peak - idle) / MiB };
    };
    const cold = await bigRun(job.count);
    if (job.warmup) await c.sendStream(conn, bigMessageStream({ blocks: job.warmup }));
    const steady = job.steady ? await bigRun(job.steady) : undefined;
    await c.quit(conn);
    // Kernel high-water mark of the whole process life (includes start-up), for cross-checking.
    return { cold, ...(steady ? { steady } : {}), maxRssMiB: process.resourceUsage().maxRSS / 1024 };
  }
  throw new Error(`unknown scenario ${job.scenario}`);
}

run().then(
  (result) => process.send({ ok: true, result }, () => process.exit(0)),
  (error) => process.send({ ok: false, error: String(error?.stack ?? error) }, () => process.exit(1)),
);
