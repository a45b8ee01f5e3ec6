// A minimal, fast SMTP sink for benchmarks: raw node:net on 127.0.0.1, no npm server library.
//
// - Greets at once (no 100 ms delay, no reverse lookup), advertises PIPELINING, SIZE, 8BITMIME
//   and AUTH PLAIN (and CHUNKING with `chunking: true`), and accepts exactly one user/password.
// - Processes pipelined commands strictly in order; all replies produced by one read go out in
//   one write.
// - Un-dot-stuffs DATA as it streams (never holds a body) and keeps a sha256 of every body, so
//   the benchmark can check that what arrived is what was sent. BDAT chunks (RFC 3030) are
//   hashed as they arrive, so both paths of one message give the same hash.
// - "burst" mode: after the first byte of a burst it waits BURST_MS before reading on, so
//   everything a client wrote without waiting for a reply lands in one pass. Each pass is one
//   round trip; the sink counts them per connection and per message phase.
//
// Run in its own process: `startSink()` forks this file (inheriting the CPU affinity set by
// run.sh's taskset) and talks to it over IPC.
import net from "node:net";
import { createHash } from "node:crypto";
import { fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export const SINK_USER = "bench@example.test";
export const SINK_PASSWORD = "bench-Passw0rd";
const BURST_MS = 5;
const HOST = "127.0.0.1";
const DATA_END = Buffer.from("\r\n.");
const CRLF = Buffer.from("\r\n");
const MAX_SIZE = 200 * 1024 * 1024;

function expectedPlain() {
  return Buffer.from(`\0${SINK_USER}\0${SINK_PASSWORD}`).toString("base64");
}

// ------------------------------------------------------------------------------------------
// Server (child process side)
// ------------------------------------------------------------------------------------------

function createSinkServer({ burst, chunking }) {
  const plainB64 = expectedPlain();
  const stats = freshStats();
  function freshStats() {
    return {
      connections: 0,
      messages: 0,
      /** messages whose body came in BDAT chunks */
      chunked: 0,
      bytes: 0,
      /** sha256 hex of each body -> count */
      hashes: {},
      /** round trips (client bursts) over all connections, burst mode only */
      bursts: 0,
      /** bursts that carried MAIL/RCPT/DATA/body bytes */
      messageBursts: 0,
      authOk: 0,
      authFail: 0,
      errors: [],
    };
  }

  const server = net.createServer({ noDelay: true }, (socket) => {
    socket.setNoDelay(true);
    stats.connections++;
    let pending = null; // unparsed command bytes
    let inData = false;
    let dataTail = null; // unhashed bytes carried between chunks in DATA
    let dataSkip = 0; // virtual CRLF bytes at the start of dataTail (not part of the body)
    let hash = null;
    let bodyBytes = 0;
    let bdatLeft = 0; // octets of the current BDAT chunk still to come
    let bdatLast = false;
    let authed = false;
    let awaitingAuthLine = false;
    let closed = false;
    let out = [];
    let touchedMessage = false;

    const reply = (line) => out.push(line);
    const flush = () => {
      if (out.length && !closed) socket.write(out.join(""));
      out = [];
    };

    const finishBody = () => {
      const hex = hash.digest("hex");
      stats.hashes[hex] = (stats.hashes[hex] ?? 0) + 1;
      stats.messages++;
      stats.bytes += bodyBytes;
      hash = null;
      inData = false;
      reply("250 2.0.0 Ok: queued\r\n");
    };

    // Consumes DATA bytes; returns the rest of the chunk after the end-of-data marker, or null.
    // `dataTail` holds bytes not yet hashed; its first `dataSkip` bytes are a virtual CRLF (the
    // one that ended the DATA command), so a first line starting with "." is seen as stuffed.
    const consumeData = (chunk) => {
      touchedMessage = true;
      const buf = dataTail ? Buffer.concat([dataTail, chunk]) : chunk;
      let pos = dataSkip;
      const take = (to) => {
        if (to > pos) {
          hash.update(buf.subarray(pos, to));
          bodyBytes += to - pos;
        }
      };
      let from = 0;
      for (;;) {
        const i = buf.indexOf(DATA_END, from);
        if (i < 0) break;
        if (buf.length < i + 5 && (buf.length < i + 4 || buf[i + 3] === 0x0d)) {
          // Cannot tell yet whether this is the end or a stuffed dot: keep from the marker.
          take(i);
          dataTail = Buffer.from(buf.subarray(i));
          dataSkip = Math.max(0, pos - i);
          return null;
        }
        take(i + 2); // the CRLF ends the previous line and belongs to the body
        if (buf[i + 3] === 0x0d && buf[i + 4] === 0x0a) {
          dataTail = null;
          dataSkip = 0;
          finishBody();
          return buf.subarray(i + 5);
        }
        pos = from = i + 3; // a stuffed dot: drop it
      }
      // Hold back the last 2 bytes (a possible start of the marker); hash the rest.
      const keep = Math.max(pos, buf.length - 2);
      take(keep);
      dataTail = Buffer.from(buf.subarray(keep));
      dataSkip = 0;
      return null;
    };

    const endBdat = () => {
      if (bdatLast) {
        stats.chunked++;
        finishBody();
      }
      else reply("250 2.0.0 Ok: chunk received\r\n");
    };

    // Consumes BDAT chunk bytes; returns the rest of the input after the chunk.
    const consumeBdat = (buf) => {
      touchedMessage = true;
      const n = Math.min(bdatLeft, buf.length);
      hash.update(buf.subarray(0, n));
      bodyBytes += n;
      bdatLeft -= n;
      if (bdatLeft === 0) endBdat();
      return buf.subarray(n);
    };

    const command = (line) => {
      const upper = line.slice(0, 10).toUpperCase();
      if (awaitingAuthLine) {
        awaitingAuthLine = false;
        if (line === plainB64) {
          authed = true;
          stats.authOk++;
          return reply("235 2.7.0 Authentication successful\r\n");
        }
        stats.authFail++;
        return reply("535 5.7.8 Authentication credentials invalid\r\n");
      }
      if (upper.startsWith("EHLO ") || upper.startsWith("HELO ")) {
        return reply(`250-sink.bench Hello\r\n250-PIPELINING\r\n250-SIZE ${MAX_SIZE}\r\n250-8BITMIME\r\n${chunking ? "250-CHUNKING\r\n" : ""}250 AUTH PLAIN\r\n`);
      }
      if (upper.startsWith("AUTH PLAIN")) {
        const arg = line.slice(10).trim();
        if (!arg) {
          awaitingAuthLine = true;
          return reply("334 \r\n");
        }
        if (arg === plainB64) {
          authed = true;
          stats.authOk++;
          return reply("235 2.7.0 Authentication successful\r\n");
        }
        stats.authFail++;
        return reply("535 5.7.8 Authentication credentials invalid\r\n");
      }
      if (upper.startsWith("MAIL FROM:")) {
        touchedMessage = true;
        if (!authed) return reply("530 5.7.0 Authentication required\r\n");
        return reply("250 2.1.0 Ok\r\n");
      }
      if (upper.startsWith("RCPT TO:")) {
        touchedMessage = true;
        return reply("250 2.1.5 Ok\r\n");
      }
      if (upper === "DATA") {
        touchedMessage = true;
        inData = true;
        hash = createHash("sha256");
        bodyBytes = 0;
        dataTail = CRLF; // a virtual CRLF so a first line starting with "." is found
        dataSkip = 2;
        return reply("354 End data with <CR><LF>.<CR><LF>\r\n");
      }
      const bdat = chunking && /^BDAT (\d+)( LAST)?$/i.exec(line);
      if (bdat) {
        touchedMessage = true;
        if (!hash) {
          hash = createHash("sha256");
          bodyBytes = 0;
        }
        bdatLeft = Number(bdat[1]);
        bdatLast = bdat[2] !== undefined;
        if (bdatLeft === 0) return endBdat();
        return;
      }
      if (upper === "RSET" || upper === "NOOP") return reply("250 2.0.0 Ok\r\n");
      if (upper === "QUIT") {
        reply("221 2.0.0 Bye\r\n");
        flush();
        closed = true;
        socket.end();
        return;
      }
      stats.errors.push(`unknown command: ${line.slice(0, 40)}`);
      return reply("502 5.5.2 Command not recognized\r\n");
    };

    const feed = (chunk) => {
      let buf = chunk;
      while (buf && buf.length && !closed) {
        if (inData) {
          buf = consumeData(buf);
          continue;
        }
        if (bdatLeft > 0) {
          buf = consumeBdat(buf);
          continue;
        }
        if (pending) {
          buf = Buffer.concat([pending, buf]);
          pending = null;
        }
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          pending = Buffer.from(buf);
          break;
        }
        const end = nl > 0 && buf[nl - 1] === 0x0d ? nl - 1 : nl;
        command(buf.toString("latin1", 0, end));
        buf = buf.subarray(nl + 1);
      }
    };

    if (!burst) {
      socket.on("data", (chunk) => {
        feed(chunk);
        flush();
      });
    } else {
      // Burst mode: collect everything that arrives within BURST_MS of a burst's first byte.
      let collecting = null;
      socket.on("data", (chunk) => {
        if (collecting) {
          collecting.push(chunk);
          return;
        }
        collecting = [chunk];
        setTimeout(() => {
          const chunks = collecting;
          collecting = null;
          stats.bursts++;
          touchedMessage = false;
          for (const c of chunks) feed(c);
          if (touchedMessage) stats.messageBursts++;
          flush();
        }, BURST_MS);
      });
    }
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
    });
    socket.write("220 sink.bench ESMTP ready\r\n");
  });

  return {
    server,
    stats: () => stats,
    reset: () => Object.assign(stats, freshStats()),
  };
}

// The child process: start the server, then answer IPC requests.
async function child() {
  const burst = process.argv.includes("--burst");
  const chunking = process.argv.includes("--chunking");
  const sink = createSinkServer({ burst, chunking });
  sink.server.listen(0, HOST, () => {
    process.send({ type: "ready", port: sink.server.address().port });
  });
  process.on("message", (msg) => {
    if (msg.type === "stats") process.send({ type: "stats", id: msg.id, stats: sink.stats() });
    else if (msg.type === "reset") {
      sink.reset();
      process.send({ type: "reset", id: msg.id });
    } else if (msg.type === "close") {
      sink.server.close();
      process.disconnect();
      process.exit(0);
    }
  });
}

// ------------------------------------------------------------------------------------------
// Parent side
// ------------------------------------------------------------------------------------------

/**
 * Starts the sink in a child process. Resolves with { port, stats(), reset(), close() }.
 * `burst: true` turns on round-trip counting (slow: ~5 ms per round trip); `chunking: true`
 * offers CHUNKING, so the client sends with BDAT.
 */
export async function startSink({ burst = false, chunking = false, timeoutMs = 10_000 } = {}) {
  const proc = fork(fileURLToPath(import.meta.url), ["--child", ...(burst ? ["--burst"] : []), ...(chunking ? ["--chunking"] : [])], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const ready = await withTimeout(once(proc, "message"), timeoutMs, "sink did not start");
  const port = ready[0].port;
  let nextId = 0;
  const ask = async (type) => {
    const id = ++nextId;
    proc.send({ type, id });
    for (;;) {
      const [msg] = await withTimeout(once(proc, "message"), timeoutMs, `sink did not answer ${type}`);
      if (msg.id === id) return msg;
    }
  };
  return {
    port,
    host: HOST,
    burst,
    pid: proc.pid,
    stats: async () => (await ask("stats")).stats,
    reset: async () => void (await ask("reset")),
    close: async () => {
      proc.send({ type: "close" });
      await withTimeout(once(proc, "exit"), timeoutMs, "sink did not exit").catch(() => proc.kill());
    },
  };
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes("--child")) {
  await child();
}
