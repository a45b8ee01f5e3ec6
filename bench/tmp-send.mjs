import { createReadStream } from "node:fs";
import { SmtpClient } from "@saslkit/smtp";
import { plain } from "@saslkit/mech-plain";
const [port, user, pass, file, hwm] = process.argv.slice(2);
const c = await SmtpClient.connect({ host: "127.0.0.1", port: Number(port), tls: "none", auth: { username: user, password: pass }, mechanisms: [plain] });
const r = await c.send(createReadStream(file, { highWaterMark: Number(hwm) }), { from: "a@b.c", to: ["d@e.f"] });
await c.quit();
console.log("sent", r.bytes);
