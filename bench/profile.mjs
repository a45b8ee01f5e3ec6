// Profiling driver (not a benchmark): runs one client's scenario in this process against the
// sink, after the same warm-up as smtp.mjs, so `node --cpu-prof` profiles steady state.
//
//   taskset -c 0 node --cpu-prof --cpu-prof-dir /tmp/prof bench/profile.mjs saslkit many 20000
import "reflect-metadata";
import { SINK_PASSWORD, SINK_USER, startSink } from "./lib/sink-server.mjs";
import { smallMessage } from "./lib/messages.mjs";
import { skConnect, skQuit, skSendMany, skSession, saslkitUnavailable } from "./lib/saslkit-client.mjs";
import { rawConnect, rawQuit, rawSendMany, rawSession } from "./lib/raw-client.mjs";

const [client = "saslkit", scenario = "many", n = "20000"] = process.argv.slice(2);
const count = Number(n);
await saslkitUnavailable();
const sink = await startSink();
const opts = { host: sink.host, port: sink.port, user: SINK_USER, password: SINK_PASSWORD };
const message = smallMessage(1024);
const c =
  client === "saslkit"
    ? { connect: skConnect, quit: skQuit, many: skSendMany, session: skSession }
    : { connect: rawConnect, quit: rawQuit, many: (x, m, k) => rawSendMany(x, m, k, "rfc2920"), session: (o, m) => rawSession(o, m, "rfc2920") };
try {
  if (scenario === "many") {
    const conn = await c.connect(opts);
    await c.many(conn, message, 5000); // warm-up
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    await c.many(conn, message, count);
    const cpu = process.cpuUsage(cpu0);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`${client} many: ${(count / s).toFixed(0)} msg/s, ${((s * 1e6) / count).toFixed(1)} µs/msg wall, client CPU ${(cpu.user / count).toFixed(1)} user + ${(cpu.system / count).toFixed(1)} sys µs/msg`);
    await c.quit(conn);
  } else {
    for (let i = 0; i < 300; i++) await c.session(opts, message); // warm-up
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < count; i++) await c.session(opts, message);
    const cpu = process.cpuUsage(cpu0);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`${client} sessions: ${(count / s).toFixed(0)} sessions/s, ${((s * 1e6) / count).toFixed(0)} µs/session wall, client CPU ${(cpu.user / count).toFixed(0)} user + ${(cpu.system / count).toFixed(0)} sys µs/session`);
  }
} finally {
  await sink.close();
}
