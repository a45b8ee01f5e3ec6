// One measurement in its own process, so RSS and event-loop stalls belong to one client only.
// Forked by smtp.mjs with a JSON job in argv[2]; sends one { ok, result | error } over IPC.
//
// job: { client: "raw" | "raw2920" | "nodemailer" | "saslkit", scenario: "many" | "sessions" | "big",
//        host, port, user, password, count }
import { monitorEventLoopDelay } from "node:perf_hooks";
import { bigMessageStream, smallMessage } from "./messages.mjs";
import { rawConnect, rawQuit, rawSendMany, rawSendStream, rawSession } from "./raw-client.mjs";
import { nmConnect, nmQuit, nmSend, nmSendMany, nmSession } from "./nodemailer-client.mjs";
import { skConnect, skQuit, skSend, skSendMany, skSession } from "./saslkit-client.mjs";

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

async function run() {
  const c = clients[job.client];
  if (!c) throw new Error(`unknown client ${job.client}`);
  const eld = monitorEventLoopDelay({ resolution: 1 });
  const message = smallMessage(1024);

  if (job.scenario === "many") {
    const conn = await c.connect(opts);
    eld.enable();
    const t0 = process.hrtime.bigint();
    await c.sendMany(conn, message, job.count);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    eld.disable();
    await c.quit(conn);
    return { seconds: s, perSecond: job.count / s, stallMs: eld.max / 1e6 };
  }

  if (job.scenario === "sessions") {
    eld.enable();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < job.count; i++) await c.session(opts, message);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    eld.disable();
    return { seconds: s, perSecond: job.count / s, stallMs: eld.max / 1e6 };
  }

  if (job.scenario === "big") {
    const conn = await c.connect(opts);
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
    const stream = bigMessageStream({ blocks: job.count, onChunk: () => (++chunks % 16 === 0 ? sample() : undefined) });
    eld.enable();
    const t0 = process.hrtime.bigint();
    await c.sendStream(conn, stream);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    eld.disable();
    clearInterval(timer);
    sample();
    await c.quit(conn);
    const bytes = job.count * 64 * 1024;
    return {
      seconds: s,
      mbPerSec: bytes / 1e6 / s,
      idleRssMiB: idle / MiB,
      peakAboveIdleMiB: (peak - idle) / MiB,
      // Kernel high-water mark of the whole process life (includes start-up), for cross-checking.
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      stallMs: eld.max / 1e6,
    };
  }
  throw new Error(`unknown scenario ${job.scenario}`);
}

run().then(
  (result) => process.send({ ok: true, result }, () => process.exit(0)),
  (error) => process.send({ ok: false, error: String(error?.stack ?? error) }, () => process.exit(1)),
);
