import { Credentials } from "@saslkit/core";
import { prepareMessage } from "@saslkit/smtp";
import { readFileSync } from "node:fs";
const msg = readFileSync("/tmp/saslkit-harness.t9uOVO/bench/.cache/msg-1024.eml");
const env = { from: "a@b.c", to: ["d@e.f"] };
function bench(name, f, n) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f(i);
  console.log(name, (Number(process.hrtime.bigint() - t0) / 1e3 / n).toFixed(2), "us");
}
bench("prepareMessage cold-ish first 500", () => prepareMessage(msg, env), 500);
bench("prepareMessage steady", () => prepareMessage(msg, env), 100000);
bench("Credentials.from first 500", () => Credentials.from({ username: "bench", password: "x" }), 500);
bench("Credentials.from steady", () => Credentials.from({ username: "bench", password: "x" }), 100000);
