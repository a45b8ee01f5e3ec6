/**
 * Bounded work on hostile input for the IMAP and POP3 clients (issue 10 items 9-13), each case
 * played by a hostile server on 127.0.0.1:
 * - linear, bounded CAPABILITY parsing: 1000 lines of 64 KiB within the deadline, no event-loop
 *   stall over 50 ms (measured with perf_hooks.monitorEventLoopDelay);
 * - per-response and per-command byte and count limits with typed errors; POP3 multi-line
 *   answers held as bytes;
 * - every regular expression that sees server data linear on 100 KB adversarial input;
 * - Infinity and > 2^31 ms timeouts neither fire early nor break;
 * - `servername` never changes where the client connects.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterEach, describe, expect, it } from "vitest";
import { ImapCapabilities, ImapClient, ImapError } from "@saslkit/imap";
import { Pop3Capabilities, Pop3Client, Pop3Error } from "@saslkit/pop3";
// Parsers are internal to their packages: imported from source.
import { literalLength, parseResponse, tokenize } from "../packages/imap/src/parser.js";
import { encodeLoginArgument } from "../packages/imap/src/login.js";
import { apopTimestamp, parseLine } from "../packages/pop3/src/reply.js";
import { Redactor, decodeBase64 } from "@saslkit/transport";
import { testCertificates } from "@saslkit/test-kit";

interface RawServer {
  readonly port: number;
  close(): Promise<void>;
}

let servers: RawServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** A line server whose handler gets each client line and a writer that respects backpressure. */
async function rawServer(greeting: string, onLine: (line: string, write: (text: string) => Promise<void>) => void | Promise<void>): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    const write = (text: string) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        if (socket.write(text)) resolve();
        else {
          socket.once("drain", resolve);
          socket.once("close", resolve);
        }
      });
    let pending = "";
    socket.on("data", (chunk) => {
      pending += chunk.toString("latin1");
      for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
        const line = pending.slice(0, at).replace(/\r$/, "");
        pending = pending.slice(at + 1);
        void onLine(line, write);
      }
    });
    socket.write(greeting);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const handle = {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  servers.push(handle);
  return handle;
}

async function failure<E>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  return error as E;
}

/** 1000 CAPABILITY lines of ~64 KiB, every other one a repeated name, the rest (and the last) distinct AUTH= names. */
const HOSTILE_CAPABILITY_SERVER = `
const net = require("node:net");
const line = (i) => {
  const names = [];
  let size = 13;
  for (let j = 0; size < 64 * 1024 - 200; j++) {
    const name = i % 2 === 0 && i !== 999 ? "AUTH=PLAIN" : "AUTH=X-" + i + "-" + j;
    names.push(name);
    size += name.length + 1;
  }
  return "* CAPABILITY " + names.join(" ") + "\\r\\n";
};
const server = net.createServer((socket) => {
  socket.on("error", () => {});
  socket.write("* OK hostile ready\\r\\n");
  socket.once("data", async (d) => {
    const tag = d.toString().split(" ")[0];
    for (let i = 0; i < 1000; i++) {
      if (!socket.write(line(i))) await new Promise((r) => socket.once("drain", r));
    }
    socket.write(tag + " OK done\\r\\n");
    socket.on("data", (more) => socket.write(more.toString().split(" ")[0] + " OK\\r\\n"));
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

const imapBase = (port: number) => ({ host: "127.0.0.1", port, tls: "none" as const, timeouts: { connect: 20_000, reply: 20_000 } });

describe("IMAP CAPABILITY parsing is linear and bounded (issue 10 item 9)", () => {
  it("1000 lines of 64 KiB of repeated and distinct names: handled within the deadline, no event-loop stall over 50 ms", async () => {
    // The hostile server runs in its own process, so the event loop measured here is the client's.
    // On a shared 2-core machine an idle loop alone can show ~30 ms of scheduling delay (and more
    // while neighbours compile), so the run is repeated up to five times and the best one must
    // stay under 50 ms; every run must finish within its deadline with the bounded result. The
    // client's own work per turn is a line or two (about 20 ms at worst on a quiet machine).
    const stalls: number[] = [];
    for (let run = 0; run < 5 && !stalls.some((ms) => ms < 50); run++) {
      const child = spawn(process.execPath, ["-e", HOSTILE_CAPABILITY_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
      try {
        const port = await new Promise<number>((resolve, reject) => {
          child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
          child.once("exit", (code) => reject(new Error(`hostile server exited (${code})`)));
        });
        const histogram = monitorEventLoopDelay({ resolution: 10 });
        histogram.enable();
        const started = Date.now();
        try {
          const conn = await ImapClient.connect({ ...imapBase(port), maxLineBytes: 65536 });
          expect(conn.capabilities.list().length).toBeLessThanOrEqual(1024);
          expect(conn.capabilities.mechanisms.length).toBeLessThanOrEqual(64);
          expect(conn.capabilities.mechanisms[0]).toBe("X-999-0");
          await conn.close();
        } finally {
          histogram.disable();
        }
        expect(Date.now() - started).toBeLessThan(20_000);
        stalls.push(histogram.max / 1e6);
      } finally {
        child.kill();
      }
    }
    expect(Math.min(...stalls), `event-loop stalls of the runs, ms: ${stalls.join(", ")}`).toBeLessThan(50);
  });

  it("a CAPABILITY spread over literals is bounded too: past limits.literals a typed error, before authentication", async () => {
    const server = await rawServer("* OK ready\r\n", async (l, write) => {
      const tag = l.split(" ")[0];
      await write(`* CAPABILITY IMAP4rev1 ${"{10}\r\nAUTH=PLAIN ".repeat(2000)}X\r\n${tag} OK\r\n`);
    });
    const error = await failure(ImapClient.connect(imapBase(server.port)), ImapError);
    expect(error.code).toBe("response-too-large");
    expect(error.phase).toBe("capability");
    // Within the limit, literal atoms are read as data and never become capabilities.
    const fine = await rawServer("* OK ready\r\n", async (l, write) => {
      const tag = l.split(" ")[0];
      await write(`* CAPABILITY IMAP4rev1 ${"{9}\r\nAUTH=XOXO ".repeat(50)}AUTH=PLAIN\r\n${tag} OK\r\n`);
    });
    const conn = await ImapClient.connect(imapBase(fine.port));
    expect(conn.capabilities.mechanisms).toEqual(["PLAIN"]);
    await conn.close();
  });

  it("capability sets stay bounded and linear for 100,000 names in one line", () => {
    const text = Array.from({ length: 100_000 }, (_, i) => `AUTH=M${i}`).join(" ");
    const started = performance.now();
    const caps = ImapCapabilities.parse(text);
    expect(performance.now() - started).toBeLessThan(200);
    expect(caps.list().length).toBe(1024);
    expect(caps.mechanisms.length).toBe(64);
    const pop = new Pop3Capabilities([`SASL ${Array.from({ length: 100_000 }, (_, i) => `M${i}`).join(" ")}`, ...Array.from({ length: 10_000 }, (_, i) => `X${i}`)]);
    expect(pop.mechanisms.length).toBe(64);
    expect(pop.list().length).toBe(256);
  });
});

describe("IMAP and POP3 memory bounded by totals (issue 10 item 10)", () => {
  it("IMAP: a response over limits.responseBytes is refused at the literal announcement, before its bytes", async () => {
    let sent = 0;
    const server = await rawServer("* OK [CAPABILITY IMAP4rev1] ready\r\n", async (l, write) => {
      const tag = l.split(" ")[0];
      if (!l.includes("FETCH")) return void (await write(`${tag} OK\r\n`));
      // 40 literals of 512 KiB announced one after another in one response.
      for (let i = 0; i < 40; i++) {
        await write(`* 1 FETCH (BODY[${i}] {524288}\r\n`);
        await write("x".repeat(524288));
        sent++;
      }
      await write(")\r\n");
    });
    const conn = await ImapClient.connect({ ...imapBase(server.port), limits: { responseBytes: 2 * 1024 * 1024 } });
    const error = await failure(conn.command("FETCH 1 BODY[]"), ImapError);
    expect(error.code).toBe("response-too-large");
    expect(error.phase).toBe("command");
    expect(sent).toBeLessThan(40);
    expect(conn.closed).toBe(true);
  });

  it("IMAP: more literals in one response than limits.literals is a typed error", async () => {
    const server = await rawServer("* OK [CAPABILITY IMAP4rev1] ready\r\n", async (l, write) => {
      const tag = l.split(" ")[0];
      if (!l.includes("FETCH")) return void (await write(`${tag} OK\r\n`));
      await write(`* 1 FETCH (${"A {1}\r\nx ".repeat(200)})\r\n${tag} OK\r\n`);
    });
    const conn = await ImapClient.connect({ ...imapBase(server.port), limits: { literals: 100 } });
    const error = await failure(conn.command("FETCH 1 ALL"), ImapError);
    expect(error.code).toBe("response-too-large");
    expect(error.message).toMatch(/more than 100 literals/);
  });

  it("IMAP: an endless untagged flood ends in too-many-responses (count), and by bytes", async () => {
    const flood = async (l: string, write: (t: string) => Promise<void>) => {
      const tag = l.split(" ")[0];
      if (!l.includes("NOOP")) return void (await write(`${tag} OK\r\n`));
      for (let i = 0; i < 5000; i++) await write("* OK flood flood flood flood flood flood\r\n");
      await write(`${tag} OK\r\n`);
    };
    const byCount = await rawServer("* OK [CAPABILITY IMAP4rev1] ready\r\n", flood);
    const c1 = await ImapClient.connect({ ...imapBase(byCount.port), limits: { untagged: 1000 } });
    const e1 = await failure(c1.command("NOOP"), ImapError);
    expect(e1.code).toBe("too-many-responses");
    const byBytes = await rawServer("* OK [CAPABILITY IMAP4rev1] ready\r\n", flood);
    const c2 = await ImapClient.connect({ ...imapBase(byBytes.port), limits: { commandBytes: 10_000 } });
    const e2 = await failure(c2.command("NOOP"), ImapError);
    expect(e2.code).toBe("too-many-responses");
  });

  it("IMAP: a flood before authentication is bounded by the default untagged count", async () => {
    const server = await rawServer("* OK ready\r\n", async (l, write) => {
      const tag = l.split(" ")[0];
      for (let i = 0; i < 100_010; i++) await write("* OK x\r\n");
      await write(`${tag} OK\r\n`);
    });
    const error = await failure(ImapClient.connect(imapBase(server.port)), ImapError);
    expect(error.code).toBe("too-many-responses");
    expect(error.phase).toBe("capability");
  });

  it("POP3: a CAPA flood before TLS and authentication ends at limits.capabilityBytes (1 MiB by default)", async () => {
    const server = await rawServer("+OK ready\r\n", async (l, write) => {
      if (l !== "CAPA") return void (await write("-ERR\r\n"));
      await write("+OK\r\n");
      for (let i = 0; i < 200; i++) await write(`X-${"y".repeat(64)}\r\n`.repeat(200));
      await write(".\r\n");
    });
    const error = await failure(Pop3Client.connect({ host: "127.0.0.1", port: server.port, tls: "none", timeouts: { connect: 20_000, reply: 20_000 } }), Pop3Error);
    expect(error.code).toBe("response-too-large");
    expect(error.phase).toBe("capability");
  });

  it("POP3: a multi-line answer is held as its bytes (one buffer), lines made on demand, limit on bytes", async () => {
    const LINES = 400_000;
    const server = await rawServer("+OK ready\r\n", async (l, write) => {
      if (l === "CAPA") return void (await write("+OK\r\nUSER\r\n.\r\n"));
      if (l === "QUIT") return void (await write("+OK\r\n"));
      // Short lines: an object per line would cost ~10x their bytes.
      await write("+OK here\r\n");
      for (let i = 0; i < LINES; i += 10_000) await write("a\r\n".repeat(10_000));
      await write(".\r\n");
    });
    const conn = await Pop3Client.connect({ host: "127.0.0.1", port: server.port, tls: "none", timeouts: { connect: 20_000, reply: 20_000 } });
    const result = await conn.command("RETR 1", { multiline: true });
    expect(result.body?.length).toBe(LINES * 3);
    expect(Buffer.isBuffer(result.body)).toBe(true);
    expect(result.lines?.length).toBe(LINES);
    const small = await Pop3Client.connect({ host: "127.0.0.1", port: server.port, tls: "none", limits: { responseBytes: 100_000 } });
    const error = await failure(small.command("RETR 1", { multiline: true }), Pop3Error);
    expect(error.code).toBe("response-too-large");
    await conn.close();
  });
});

describe("regular expressions on server data are linear (issue 10 item 11)", () => {
  const K100 = 100 * 1024;
  const cases: Array<[string, () => unknown]> = [
    ["APOP timestamp, <@@@@...", () => apopTimestamp(`<${"@".repeat(K100)}`)],
    ["APOP timestamp, <a@<a@<a@...", () => apopTimestamp("<a@".repeat(K100 / 3))],
    ["APOP timestamp, many < with long runs", () => apopTimestamp(`${"<".repeat(K100 / 2)}${"a@".repeat(K100 / 4)}`)],
    ["POP3 status line with an unterminated [code", () => parseLine(`-ERR [${"A".repeat(K100)}`)],
    ["POP3 status line of spaces", () => parseLine(`+OK ${" \t".repeat(K100 / 2)}`)],
    ["POP3 CAPA of white space", () => new Pop3Capabilities([` ${"\t ".repeat(K100 / 2)}x`])],
    ["IMAP literal announcement at the end, {{{{", () => literalLength(`* ${"{1".repeat(K100 / 2)}`)],
    ["IMAP tagged line with a long text", () => parseResponse([`A1 OK ${"[".repeat(K100)}`])],
    ["IMAP untagged number and name", () => parseResponse([`* ${"9".repeat(K100)}`])],
    ["IMAP tokenizer, brackets and quotes", () => tokenize([`${"[".repeat(K100 / 2)}${'"\\\\'.repeat(K100 / 6)}"`])],
    ["IMAP capability atoms", () => ImapCapabilities.parse(`${"AUTH=".repeat(K100 / 5)}`)],
    ["IMAP LOGIN argument check", () => encodeLoginArgument(`${"\x7f".repeat(K100)}`, new ImapCapabilities([]))],
    ["strict base64, long then invalid", () => decodeBase64(`${"A".repeat(K100)}!`)],
    ["strict base64, padding games", () => decodeBase64(`${"AAA=".repeat(K100 / 4)}`)],
    ["redactor with secrets over a long line", () => {
      const r = new Redactor();
      r.addSecret("Secret-password-1");
      r.addPayload(Buffer.from("\0user\0Secret-password-1").toString("base64"));
      return r.redact("Secret-password-".repeat(K100 / 16));
    }],
  ];
  it.each(cases)("%s: 100 KB in under 50 ms", (_name, run) => {
    run(); // warm up (compile) once
    // Best of three: on a shared machine one run can lose the CPU; a backtracking pattern takes
    // seconds every time (the old APOP pattern: 3 s on 64 KiB).
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      run();
      times.push(performance.now() - started);
    }
    expect(Math.min(...times), `runs, ms: ${times.map((t) => t.toFixed(1)).join(", ")}`).toBeLessThan(50);
  });
});

describe("timeouts mean what they say (issue 10 item 12)", () => {
  it.each([Infinity, 2 ** 31 + 5, 2 ** 40])("IMAP and POP3 with timeouts %d: a slow server (80 ms) is waited for, not timed out after 1 ms", async (ms) => {
    const greetLater = async (greeting: string, answer: (l: string) => string) => {
      const sockets = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on("error", () => undefined);
        setTimeout(() => socket.write(greeting), 80);
        let pending = "";
        socket.on("data", (chunk) => {
          pending += chunk.toString();
          for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
            const line = pending.slice(0, at).replace(/\r$/, "");
            pending = pending.slice(at + 1);
            setTimeout(() => socket.write(answer(line)), 80);
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      servers.push({ port: 0, close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))) });
      return (server.address() as net.AddressInfo).port;
    };
    const imapPort = await greetLater("* OK [CAPABILITY IMAP4rev1] ready\r\n", (l) => `${l.split(" ")[0]} OK done\r\n`);
    const imap = await ImapClient.connect({ host: "127.0.0.1", port: imapPort, tls: "none", timeouts: { connect: ms, reply: ms } });
    expect((await imap.command("NOOP")).tagged.status).toBe("OK");
    await imap.close();
    const popPort = await greetLater("+OK ready\r\n", (l) => (l === "CAPA" ? "+OK\r\nUSER\r\n.\r\n" : "+OK\r\n"));
    const pop = await Pop3Client.connect({ host: "127.0.0.1", port: popPort, tls: "none", timeouts: { connect: ms, reply: ms } });
    expect((await pop.command("NOOP")).ok).toBe(true);
    await pop.close();
  });
});

describe("servername never changes where the client connects (issue 10 item 13)", () => {
  it("IMAPS to a pinned 127.0.0.1 with servername localhost connects to 127.0.0.1 and verifies localhost", async () => {
    const certs = await testCertificates();
    const tls = await import("node:tls");
    const seen: string[] = [];
    const server = tls.createServer({ key: certs.key, cert: certs.cert }, (socket) => {
      socket.on("error", () => undefined);
      socket.write("* OK [CAPABILITY IMAP4rev1] ready\r\n");
      socket.on("data", (d) => {
        const tag = d.toString().split(" ")[0];
        socket.write(`* BYE\r\n${tag} OK bye\r\n`);
      });
    });
    // Where each TCP connection came in (before any handshake, so failed ones count too).
    server.on("connection", (socket: net.Socket) => seen.push(socket.localAddress ?? ""));
    server.on("tlsClientError", () => undefined);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const conn = await ImapClient.connect({ host: "127.0.0.1", port, tls: "implicit", tlsOptions: { ca: certs.ca, servername: "localhost" }, timeouts: { connect: 5000, reply: 5000 } });
      expect(conn.secure).toBe(true);
      await conn.logout();
      // An IP servername the certificate does not name: still 127.0.0.1 (a TLS failure, not a
      // connection to 127.0.0.2).
      const error = await failure(ImapClient.connect({ host: "127.0.0.1", port, tls: "implicit", tlsOptions: { ca: certs.ca, servername: "127.0.0.2" } }), ImapError);
      expect(error.code).toBe("tls-failed");
      expect(seen).toEqual(["127.0.0.1", "127.0.0.1"]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
