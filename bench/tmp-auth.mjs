import { planNegotiation, authenticate, MechanismRegistry } from "@saslkit/core";
import { plain } from "@saslkit/mech-plain";
import { SmtpSaslExchange } from "@saslkit/smtp";
import { parseCapabilities, parseReply } from "@saslkit/smtp";
const reg = MechanismRegistry.from([plain]);
const ok = { code: 235, lines: ["235 ok"], text: "ok" };
const ehlo = parseReply(["250-sink.local Hello", "250-PIPELINING", "250-SIZE 100000", "250-8BITMIME", "250 AUTH PLAIN LOGIN CRAM-MD5"]);
async function one() {
  const caps = parseCapabilities(ehlo);
  const plan = planNegotiation(reg, { offered: caps.auth, credentials: { username: "bench", password: "bench-pass-123" }, channel: { secure: false, loopback: true, host: "127.0.0.1", port: 25 }, policy: { force: "PLAIN" } });
  const ex = new SmtpSaslExchange({ command: async () => ok });
  return authenticate(plan, ex, {});
}
for (let i = 0; i < 20000; i++) await one();
const t0 = process.hrtime.bigint(); const c0 = process.cpuUsage();
const N = 50000;
for (let i = 0; i < N; i++) await one();
const c = process.cpuUsage(c0);
console.log("us per auth (cpu)", ((c.user + c.system) / N).toFixed(1), "wall", (Number(process.hrtime.bigint() - t0) / 1e3 / N).toFixed(1));
const t1 = process.hrtime.bigint();
for (let i = 0; i < N; i++) parseCapabilities(ehlo);
console.log("parseCapabilities us", (Number(process.hrtime.bigint() - t1) / 1e3 / N).toFixed(2));
