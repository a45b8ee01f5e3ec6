// nodemailer's SMTPConnection (nodemailer 10.x, ESM default export) driven the way its own
// transports drive it: connect, login, send one message at a time, quit.
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { once } from "node:events";
import { FROM, TO } from "./messages.mjs";
import { withTimeout } from "./sink-server.mjs";

const TIMEOUT_MS = 60_000;
const p = (fn) => withTimeout(new Promise(fn), TIMEOUT_MS, "nodemailer call");

export async function nmConnect({ host, port, user, password }) {
  // name: no os.hostname() lookups; host is an IP, so nodemailer resolves nothing.
  const conn = new SMTPConnection({ host, port, secure: false, ignoreTLS: true, name: "bench.client", logger: false });
  conn.on("error", () => {});
  await p((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  await p((resolve, reject) => conn.login({ user, pass: password, method: "PLAIN" }, (err) => (err ? reject(err) : resolve())));
  return conn;
}

export function nmSend(conn, message) {
  return p((resolve, reject) => conn.send({ from: FROM, to: [TO] }, message, (err, info) => (err ? reject(err) : resolve(info))));
}

export async function nmQuit(conn) {
  const ended = once(conn, "end");
  conn.quit();
  await withTimeout(ended, TIMEOUT_MS, "nodemailer end");
}

export async function nmSendMany(conn, message, count) {
  for (let i = 0; i < count; i++) await nmSend(conn, message);
}

export async function nmSession(opts, message) {
  const conn = await nmConnect(opts);
  await nmSend(conn, message);
  await nmQuit(conn);
}
