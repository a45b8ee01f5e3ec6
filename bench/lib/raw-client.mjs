// The reference client: a minimal raw-socket Node SMTP client that pipelines everything the
// server allows. It is the floor a Node client can reach on this machine; the other clients are
// reported as ratios to it.
//
// Modes:
// - "blind": writes MAIL, RCPT, DATA, the body and the dot of every message without waiting for
//   any reply, across messages (the sink processes in order, so this works against it; a real
//   client may not send the body before 354).
// - "rfc2920": what RFC 2920 allows: DATA ends a group, so the client waits for 354, then sends
//   body + dot + the next message's MAIL/RCPT/DATA in one group: one round trip per message.
import net from "node:net";
import { once } from "node:events";
import { FROM, TO, createStuffer, dotStuff } from "./messages.mjs";
import { withTimeout } from "./sink-server.mjs";

const TIMEOUT_MS = 60_000;

/** Reads SMTP replies off a socket and hands them out in order. */
class Replies {
  constructor(socket) {
    this.buf = "";
    this.codes = [];
    this.waiter = null;
    this.error = null;
    socket.setEncoding("latin1");
    socket.on("data", (s) => this.#onData(s));
    socket.on("error", (e) => this.#fail(e));
    socket.on("close", () => this.#fail(new Error("connection closed")));
  }
  #onData(s) {
    this.buf += s;
    let nl;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.length < 4 || line[3] === " " || line[3] === "\r") this.codes.push(Number(line.slice(0, 3)));
    }
    this.#check();
  }
  #fail(e) {
    if (!this.error) this.error = e;
    this.#check();
  }
  #check() {
    const w = this.waiter;
    if (!w) return;
    if (this.codes.length >= w.n) {
      this.waiter = null;
      w.resolve(this.codes.splice(0, w.n));
    } else if (this.error) {
      this.waiter = null;
      w.reject(this.error);
    }
  }
  /** The next `n` reply codes; rejects when one is not 2xx/3xx (unless `any`). */
  async take(n, { any = false } = {}) {
    const codes = await withTimeout(
      new Promise((resolve, reject) => {
        this.waiter = { n, resolve, reject };
        this.#check();
      }),
      TIMEOUT_MS,
      `${n} replies`,
    );
    if (!any) for (const c of codes) if (c >= 400) throw new Error(`server replied ${c}`);
    return codes;
  }
}

const envelope = `MAIL FROM:<${FROM}>\r\nRCPT TO:<${TO}>\r\nDATA\r\n`;

/** Connects, reads the greeting, EHLO, AUTH PLAIN (with initial response). */
export async function rawConnect({ host, port, user, password, authPipelined = "" }) {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  await withTimeout(once(socket, "connect"), TIMEOUT_MS, "connect");
  const replies = new Replies(socket);
  await replies.take(1);
  socket.write("EHLO bench.client\r\n");
  await replies.take(1);
  const auth = Buffer.from(`\0${user}\0${password}`).toString("base64");
  socket.write(`AUTH PLAIN ${auth}\r\n${authPipelined}`);
  if (!authPipelined) await replies.take(1);
  return { socket, replies };
}

export async function rawQuit({ socket, replies }) {
  socket.write("QUIT\r\n");
  await replies.take(1);
  socket.end();
  if (!socket.closed) await withTimeout(once(socket, "close"), TIMEOUT_MS, "close");
}

/** Sends `count` copies of `message` (a Buffer ending in CRLF) over one connection. */
export async function rawSendMany(conn, message, count, mode = "blind") {
  const { socket, replies } = conn;
  const stuffed = Buffer.concat([dotStuff(message), Buffer.from(".\r\n")]);
  if (mode === "blind") {
    const one = Buffer.concat([Buffer.from(envelope), stuffed]);
    for (let i = 0; i < count; i++) {
      if (!socket.write(one)) await once(socket, "drain");
    }
    await replies.take(4 * count);
    return;
  }
  socket.write(envelope);
  await replies.take(3);
  const next = Buffer.concat([stuffed, Buffer.from(envelope)]);
  for (let i = 0; i < count; i++) {
    if (i < count - 1) {
      socket.write(next);
      await replies.take(4);
    } else {
      socket.write(stuffed);
      await replies.take(1);
    }
  }
}

/** One whole session: connect, EHLO, AUTH, one message, QUIT. */
export async function rawSession(opts, message, mode = "blind") {
  const stuffed = Buffer.concat([dotStuff(message), Buffer.from(".\r\n")]);
  if (mode === "blind") {
    const conn = await rawConnect({ ...opts, authPipelined: envelope });
    conn.socket.write(Buffer.concat([stuffed, Buffer.from("QUIT\r\n")]));
    await conn.replies.take(6);
    conn.socket.end();
    if (!conn.socket.closed) await withTimeout(once(conn.socket, "close"), TIMEOUT_MS, "close");
    return;
  }
  const conn = await rawConnect(opts);
  conn.socket.write(envelope);
  await conn.replies.take(3);
  conn.socket.write(Buffer.concat([stuffed, Buffer.from("QUIT\r\n")]));
  await conn.replies.take(2);
  conn.socket.end();
  if (!conn.socket.closed) await withTimeout(once(conn.socket, "close"), TIMEOUT_MS, "close");
}

/** Streams one message from a Readable (dot-stuffed on the fly, with backpressure). */
export async function rawSendStream(conn, readable) {
  const { socket, replies } = conn;
  socket.write(envelope);
  await replies.take(3);
  const stuff = createStuffer();
  for await (const chunk of readable) {
    let ok = true;
    for (const part of stuff(chunk)) ok = socket.write(part);
    if (!ok) await withTimeout(once(socket, "drain"), TIMEOUT_MS, "drain");
  }
  socket.write(".\r\n");
  await replies.take(1);
}
