import net from "node:net";
import { createHash, X509Certificate } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { Deadline, LineSocket, TransportError, decodeBase64, encodeBase64, endPointHash, unwatchDeadline, watchDeadline, type TranscriptEntry } from "@saslkit/transport";
import { startScriptedServer, testCertificates, transportErrorCode } from "@saslkit/test-kit";

/** A raw server: hands the accepted socket to `handler`. */
async function rawServer(handler: (socket: net.Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    handler(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe("base64", () => {
  it.each([
    ["", []],
    ["AA==", [0]],
    ["AAE=", [0, 1]],
    ["AAEC", [0, 1, 2]],
  ])("decodes canonical %j", (text, bytes) => {
    expect([...decodeBase64(text)!]).toEqual(bytes);
    expect(encodeBase64(new Uint8Array(bytes))).toBe(text);
  });
  it.each(["A", "AA", "AAA", "AA=", "AA==AA==", "AA AA", " AAAA", "AAAA\n", "AB==", "AAF=", "A-_A", "====", "AA=="+"="])("rejects malformed %j", (text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});

describe("Deadline", () => {
  it("is absolute and reports remaining time", () => {
    const d = Deadline.in(10000);
    expect(d.expired()).toBe(false);
    expect(d.remaining()).toBeGreaterThan(9000);
    expect(d.within(5).remaining()).toBeLessThanOrEqual(5);
    expect(Deadline.in(0).expired()).toBe(true);
    expect(Deadline.in(-5).remaining()).toBe(0);
  });

  it("bound(): the promise's value or error passes through before the deadline; after it, expired()'s error, and a late settle changes nothing", async () => {
    const later = Deadline.in(10000);
    expect(await later.bound(Promise.resolve(7), () => new Error("late"))).toBe(7);
    await expect(later.bound(Promise.reject(new Error("own")), () => new Error("late"))).rejects.toThrow("own");
    let settle!: (v: number) => void;
    const slow = new Promise<number>((r) => (settle = r));
    const bounded = Deadline.in(20).bound(slow, () => new TransportError("timeout", "too slow"));
    await expect(bounded).rejects.toMatchObject({ code: "timeout", message: "too slow" });
    settle(1);
    await expect(bounded).rejects.toMatchObject({ code: "timeout" });
  });

  it("watched deadlines share one timer: each fires once, in order, not before its time; an unwatched one never", async () => {
    const fired: string[] = [];
    const start = Date.now();
    const late = watchDeadline(start + 60, () => fired.push(`late ${Date.now() - start >= 60}`));
    const gone = watchDeadline(start + 20, () => fired.push("gone"));
    // Added after the timer was set for a later time: it must still fire first.
    watchDeadline(start + 10, () => {
      fired.push(`early ${Date.now() - start >= 10}`);
      // A deadline watched from inside a firing one (a socket's next wait) fires too.
      watchDeadline(Date.now() + 15, () => fired.push("chained"));
    });
    unwatchDeadline(gone);
    expect(watchDeadline(Infinity, () => fired.push("never"))).toBeUndefined();
    await new Promise((r) => setTimeout(r, 150));
    expect(fired).toEqual(["early true", "chained", "late true"]);
    expect(late?.at).toBe(start + 60);
  });

  it("a later deadline watched from inside a firing one does not postpone an earlier one already watched", async () => {
    const start = Date.now();
    const fired: string[] = [];
    let chained: ReturnType<typeof watchDeadline>;
    // A socket whose timer fired for an old wait, watching its next, later one (what #arm does).
    watchDeadline(start + 10, () => (chained = watchDeadline(start + 2000, () => fired.push("chained"))));
    // Another connection's wait, due between the two.
    watchDeadline(start + 60, () => fired.push(`other ${Date.now() - start}`));
    await new Promise((r) => setTimeout(r, 300));
    unwatchDeadline(chained);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toMatch(/^other \d+$/);
    expect(Number(fired[0]!.slice(6))).toBeLessThan(250);
  });

  it("a stalled server times out at its own deadline while another connection's timer re-arms for a later wait", async () => {
    // A: its first read is answered, so its socket's watch stays at that read's deadline, while
    // its next read waits much longer. B: a stalled server, due in between.
    const server = await rawServer((s) => {
      s.once("data", () => s.write("x\r\n"));
    });
    const a = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    const b = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    try {
      const first = a.readLine(Deadline.in(150));
      await a.write("go\r\n");
      await first;
      const slow = a.readLine(Deadline.in(5000)).catch(() => undefined);
      const started = Date.now();
      expect(await transportErrorCode(b.readLine(Deadline.in(400)))).toBe("timeout");
      expect(Date.now() - started).toBeLessThan(1500);
      a.destroy();
      await slow;
    } finally {
      a.destroy();
      b.destroy();
      await server.close();
    }
  });
});

describe("LineSocket reading", () => {
  it("reads CRLF and bare-LF lines, UTF-8, and records a transcript", async () => {
    const server = await startScriptedServer("S: 220 héllo\nC: PING\nS: 250-a\nS: 250 b\n!raw x\\ny\\r\\n\n");
    const transcript: TranscriptEntry[] = [];
    const line = await LineSocket.connect({ host: server.host, port: server.port, transcript: (e) => transcript.push(e) });
    expect(line.loopback).toBe(true);
    expect(line.secure).toBe(false);
    const d = Deadline.in(5000);
    expect(await line.readLine(d)).toBe("220 héllo");
    await line.writeLine("PING");
    expect(await line.readLine(d)).toBe("250-a");
    expect(await line.readLine(d)).toBe("250 b");
    expect(await line.readLine(d)).toBe("x");
    expect(await line.readLine(d)).toBe("y");
    expect(await transportErrorCode(line.readLine(d))).toBe("closed");
    await server.done();
    expect(transcript.slice(0, 3)).toEqual([
      { direction: "S", text: "220 héllo" },
      { direction: "C", text: "PING" },
      { direction: "S", text: "250-a" },
    ]);
    await line.close();
    await server.close();
  });

  it("readParsed: one read spans lines in several packets, keeps its parser's state, serves reads in call order and maps failures once", async () => {
    let peer: net.Socket | undefined;
    const server = await rawServer((s) => {
      peer = s;
      s.write("250-a\r\n250-");
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    const d = Deadline.in(5000);
    let calls = 0;
    // A "reply" is lines up to one whose 4th character is a space; the parser keeps what it took.
    const replyParser = () => {
      const got: string[] = [];
      return (next: () => string | undefined) => {
        calls++;
        for (let text = next(); text !== undefined; text = next()) {
          got.push(text);
          if (text[3] === " ") return got;
        }
        return undefined;
      };
    };
    const first = line.readParsed(d, "a reply", replyParser());
    const second = line.readLine(d); // queued behind the parsed read
    await new Promise((r) => setTimeout(r, 20));
    peer!.write("b\r\n");
    await new Promise((r) => setTimeout(r, 20));
    peer!.write("250 c\r\nafter\r\n");
    expect(await first).toEqual(["250-a", "250-b", "250 c"]);
    expect(calls).toBeGreaterThanOrEqual(2); // called again as packets arrived, state kept
    expect(await second).toBe("after");
    const mapped: unknown[] = [];
    const failing = line.readParsed(Deadline.in(50), "a reply", replyParser(), (error) => {
      mapped.push(error);
      return new Error(`mapped: ${(error as TransportError).code}`);
    });
    await expect(failing).rejects.toThrow("mapped: timeout");
    expect(mapped).toHaveLength(1);
    const thrown = line.readParsed(d, "a reply", () => {
      throw new Error("bad line");
    });
    peer!.write("x\r\n");
    await expect(thrown).rejects.toThrow("bad line");
    line.destroy();
    await server.close();
  });

  it("ended: true once the peer has ended its side, before this side is closed", async () => {
    const server = await rawServer((s) => s.end("220 bye\r\n"));
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    expect(await line.readLine(Deadline.in(5000))).toBe("220 bye");
    expect(await transportErrorCode(line.readLine(Deadline.in(5000)))).toBe("closed");
    expect(line.ended).toBe(true);
    line.destroy();
    await server.close();
  });

  it("fails with line-too-long as soon as a line passes maxLineBytes, without waiting for its end", async () => {
    const server = await rawServer((s) => s.write("x".repeat(100 * 1024))); // no newline, connection stays open
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, maxLineBytes: 1000 });
    expect(await transportErrorCode(line.readLine(Deadline.in(5000)))).toBe("line-too-long");
    expect(line.buffered).toBeLessThan(200 * 1024);
    await server.close();
  });

  it("accepts a line of exactly maxLineBytes, refuses one byte more", async () => {
    const server = await rawServer((s) => s.write(`${"a".repeat(10)}\r\n${"b".repeat(11)}\r\n`));
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, maxLineBytes: 10 });
    expect(await line.readLine(Deadline.in(5000))).toBe("a".repeat(10));
    expect(await transportErrorCode(line.readLine(Deadline.in(5000)))).toBe("line-too-long");
    await server.close();
  });

  it("a dripping server cannot extend the deadline", async () => {
    const server = await startScriptedServer("!drip 30\nS: 220 this line takes far longer than the deadline\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    const started = Date.now();
    expect(await transportErrorCode(line.readLine(Deadline.in(300)))).toBe("timeout");
    // Bytes kept arriving every 30 ms; an idle timer would never have fired.
    expect(Date.now() - started).toBeLessThan(1500);
    line.destroy();
    await server.close();
  });

  it("reads exact byte counts across chunks", async () => {
    const server = await startScriptedServer("!raw abc\n!sleep 20\n!raw defgh\\r\\n\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    const d = Deadline.in(5000);
    expect((await line.readBytes(5, d)).toString()).toBe("abcde");
    expect(await line.readLine(d)).toBe("fgh");
    await line.close();
    await server.close();
  });

  it("readLineBytes returns raw bytes (8-bit clean), mixes with readLine, and keeps the line limit", async () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0x80]); // "café \xff\x80": not UTF-8
    const server = await rawServer((s) => s.write(Buffer.concat([latin1, Buffer.from("\r\nnext\n"), Buffer.alloc(12, 0x62), Buffer.from("\r\n")])));
    const transcript: TranscriptEntry[] = [];
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, maxLineBytes: 10, transcript: (e) => transcript.push(e) });
    const d = Deadline.in(5000);
    const first = await line.readLineBytes(d, { transcript: false });
    expect(first.equals(latin1)).toBe(true);
    expect(await line.readLine(d)).toBe("next");
    expect(await transportErrorCode(line.readLineBytes(d))).toBe("line-too-long");
    expect(transcript).toEqual([{ direction: "S", text: "next" }]);
    await server.close();
  });

  it("reads lines and bytes after part of a packet was read, whichever packet the rest arrives in", async () => {
    // Each packet ends in the middle of a line, after whole lines: reads leave unread bytes
    // behind, which the next packet extends (in place, or in new storage once the room is used).
    const big = "x".repeat(20000);
    const packets = ["one\r\ntw", "o\r\nthr", "ee\nABCDEfour", `\r\n${big.slice(0, 7000)}`, `${big.slice(7000)}\r\nfive\r\n`];
    const server = await rawServer(async (s) => {
      for (const p of packets) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 15));
      }
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    const d = Deadline.in(5000);
    expect(await line.readLine(d)).toBe("one");
    expect(await line.readLine(d)).toBe("two");
    expect(await line.readLine(d)).toBe("three");
    expect((await line.readBytes(5, d)).toString()).toBe("ABCDE");
    expect((await line.readLineBytes(d)).toString()).toBe("four");
    expect(await line.readLine(d)).toBe(big);
    expect(line.buffered).toBe(6);
    expect(await line.readLine(d)).toBe("five");
    expect(line.buffered).toBe(0);
    await line.close();
    await server.close();
  });

  it("readLineBytes waits for a line split across packets", async () => {
    const server = await startScriptedServer("!raw ab\n!sleep 20\n!raw cd\\r\\n\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    expect((await line.readLineBytes(Deadline.in(5000))).toString("latin1")).toBe("abcd");
    await line.close();
    await server.close();
  });

  it("serialises concurrent reads in call order", async () => {
    const server = await startScriptedServer("S: one\nS: two\nS: three\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    const d = Deadline.in(5000);
    expect(await Promise.all([line.readLine(d), line.readLine(d), line.readLine(d)])).toEqual(["one", "two", "three"]);
    await line.close();
    await server.close();
  });
});

describe("LineSocket connecting and closing", () => {
  it("connect-failed on a closed port", async () => {
    const server = await rawServer(() => undefined);
    const port = server.port;
    await server.close();
    expect(await transportErrorCode(LineSocket.connect({ host: "127.0.0.1", port }))).toBe("connect-failed");
  });

  it("connect-failed, not tls-failed, with implicit TLS when no TCP connection was made (closed port, unknown host)", async () => {
    const server = await rawServer(() => undefined);
    const port = server.port;
    await server.close();
    expect(await transportErrorCode(LineSocket.connect({ host: "127.0.0.1", port, tls: {} }))).toBe("connect-failed");
    expect(await transportErrorCode(LineSocket.connect({ host: "no-such-host.invalid", port, tls: {} }))).toBe("connect-failed");
  });

  it("aborted by the signal, also while reading", async () => {
    const server = await startScriptedServer("!stall\n");
    const controller = new AbortController();
    const line = await LineSocket.connect({ host: server.host, port: server.port, signal: controller.signal });
    const reading = line.readLine(Deadline.in(5000));
    controller.abort();
    expect(await transportErrorCode(reading)).toBe("aborted");
    expect(await transportErrorCode(line.write("x"))).toBe("aborted");
    expect(await transportErrorCode(LineSocket.connect({ host: server.host, port: server.port, signal: controller.signal }))).toBe("aborted");
    await server.close();
  });

  it("close() resolves and writes afterwards reject with closed", async () => {
    const server = await startScriptedServer("!stall\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    await line.close();
    expect(line.closed).toBe(true);
    expect(await transportErrorCode(line.write("x"))).toBe("closed");
    await server.done();
    await server.close();
  });

  it("coalesces the writes of one tick into one packet, in order", async () => {
    const chunks: Buffer[] = [];
    let peer!: net.Socket;
    const server = await rawServer((s) => {
      peer = s;
      s.on("data", (c) => chunks.push(c));
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    await Promise.all([line.write("MAIL FROM:<a@b>\r\n"), line.write(Buffer.from("RCPT TO:<c@d>\r\n")), line.writeLine("DATA")]);
    const deadline = Date.now() + 5000;
    while (Buffer.concat(chunks).length < 38 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(Buffer.concat(chunks).toString()).toBe("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n");
    expect(chunks).toHaveLength(1);
    expect(peer).toBeDefined();
    await line.close();
    await server.close();
  });

  it("counts held strings in bytes: non-ASCII text is never held past the socket's highWaterMark in UTF-8 bytes", async () => {
    let accept!: (s: net.Socket) => void;
    const accepted = new Promise<net.Socket>((r) => (accept = r));
    const server = await rawServer((s) => accept(s));
    const client = net.connect({ host: "127.0.0.1", port: server.port });
    client.on("data", () => undefined);
    client.on("error", () => undefined);
    const socket = await accepted;
    const line = LineSocket.accept(socket);
    const hwm = socket.writableHighWaterMark;
    let handed = 0;
    const write = socket.write.bind(socket) as (chunk: string | Uint8Array) => boolean;
    socket.write = ((chunk: string | Uint8Array) => {
      handed += typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.byteLength;
      return write(chunk);
    }) as typeof socket.write;
    // 1, 2, 3 and 4 UTF-8 bytes per character (the last two UTF-16 units): all in one tick, each
    // write small, the sum well past the highWaterMark. What is held must stay under it in bytes.
    const pieces = ["a".repeat(700), "é".repeat(700), "€".repeat(700), "😀".repeat(350)];
    let given = 0;
    let worst = 0;
    for (let i = 0; i < 24; i++) {
      const piece = pieces[i % pieces.length]!;
      void line.write(piece, { transcript: false }).catch(() => undefined);
      given += Buffer.byteLength(piece);
      worst = Math.max(worst, given - handed);
    }
    expect(given).toBeGreaterThan(2 * hwm);
    expect(worst).toBeLessThan(hwm);
    // Still coalesced: a small non-ASCII write in a fresh tick is held, not written at once.
    await new Promise((r) => setImmediate(r));
    const before = handed;
    void line.write("€\r\n", { transcript: false }).catch(() => undefined);
    expect(handed).toBe(before);
    await new Promise((r) => setImmediate(r));
    expect(handed).toBe(before + 5);
    line.destroy();
    client.destroy();
    await server.close();
  });

  it("what was written before destroy() in the same tick still reaches the peer", async () => {
    let received = "";
    let ended!: () => void;
    const closed = new Promise<void>((r) => (ended = r));
    const server = await rawServer((s) => {
      s.on("data", (c) => (received += c.toString()));
      s.on("close", () => ended());
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    void line.write("421 closing\r\n").catch(() => undefined);
    line.destroy();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    expect(received).toBe("421 closing\r\n");
    await server.close();
  });

  // The peer reads nothing until resumed: a write must not claim the data was taken before then.
  it.each([
    ["write waits for drain under backpressure", (line: LineSocket) => line.write(Buffer.alloc(8 * 1024 * 1024, 0x61), { transcript: false })],
    [
      "writePieces holds its caller while the peer reads nothing (the SMTP client reads its next chunk only then)",
      (line: LineSocket) => {
        // Many views of one big buffer, as the SMTP client hands over a dot-stuffed chunk.
        const big = Buffer.alloc(64 * 1024 * 1024, 0x61);
        const pieces: Buffer[] = [];
        for (let i = 0; i < big.length; i += 1024 * 1024) pieces.push(big.subarray(i, i + 1024 * 1024));
        return line.writePieces(pieces);
      },
    ],
  ])("%s", async (_name, write) => {
    let receivedBytes = 0;
    let peer!: net.Socket;
    const server = await rawServer((s) => {
      peer = s;
      s.pause();
      s.on("data", (c) => (receivedBytes += c.length));
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    let resolved = false;
    const writing = write(line).then(() => (resolved = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(resolved).toBe(false); // more than the kernel holds, and the peer reads nothing
    peer.resume();
    await writing;
    expect(receivedBytes).toBeGreaterThan(0);
    await line.close();
    await server.close();
  });
});

describe("TLS", () => {
  it("STARTTLS upgrade, channel binding identical on both sides", async () => {
    const certs = await testCertificates();
    let serverSide!: LineSocket;
    const server = await rawServer((s) => {
      serverSide = LineSocket.accept(s);
      void (async () => {
        await serverSide.writeLine("220 go ahead");
        await serverSide.acceptTls({ key: certs.key, cert: certs.cert }, Deadline.in(5000));
        await serverSide.writeLine("250 secure");
      })();
    });
    const notes: TranscriptEntry[] = [];
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, transcript: (e) => notes.push(e) });
    expect(await line.readLine(Deadline.in(5000))).toBe("220 go ahead");
    await line.startTls({ ca: certs.ca }, Deadline.in(5000));
    expect(line.secure).toBe(true);
    expect(await line.readLine(Deadline.in(5000))).toBe("250 secure");
    expect(notes.some((n) => n.direction === "*" && n.text.startsWith("TLS established"))).toBe(true);
    const client = line.channelInfo("localhost", 25);
    const srv = serverSide.channelInfo();
    expect(client).toMatchObject({ secure: true, loopback: true, host: "localhost", port: 25 });
    expect(client.channelBinding!.types).toEqual(["tls-exporter", "tls-server-end-point"]);
    const exporter = client.channelBinding!.data("tls-exporter")!;
    expect(exporter.length).toBe(32);
    expect(Buffer.from(exporter)).toEqual(Buffer.from(srv.channelBinding!.data("tls-exporter")!));
    const der = new X509Certificate(certs.cert).raw;
    expect(Buffer.from(client.channelBinding!.data("tls-server-end-point")!)).toEqual(createHash("sha256").update(der).digest());
    expect(Buffer.from(srv.channelBinding!.data("tls-server-end-point")!)).toEqual(createHash("sha256").update(der).digest());
    expect(client.channelBinding!.data("tls-unique")).toBeUndefined(); // not defined for TLS 1.3
    await line.close();
    await server.close();
  });

  it("tls-unique on TLS 1.2 is the client's Finished on both sides", async () => {
    const certs = await testCertificates();
    const tls = await import("node:tls");
    const server = tls.createServer({ key: certs.key, cert: certs.cert, maxVersion: "TLSv1.2" }, (s) => {
      const side = LineSocket.accept(s);
      const cb = side.channelInfo().channelBinding!;
      void side.writeLine(Buffer.from(cb.data("tls-unique")!).toString("hex"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const line = await LineSocket.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, tls: { ca: certs.ca } });
    const cb = line.channelInfo().channelBinding!;
    expect(cb.types).toEqual(["tls-server-end-point", "tls-unique"]);
    const mine = Buffer.from(cb.data("tls-unique")!).toString("hex");
    expect(mine.length).toBeGreaterThan(0);
    expect(await line.readLine(Deadline.in(5000))).toBe(mine);
    expect(cb.data("tls-exporter")).toBeUndefined();
    await line.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("implicit TLS against the scripted server, with certificate verification", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: 220 secure hello\nC: QUIT\nS: 221 bye\n", { tls: certs, implicitTls: true });
    const line = await LineSocket.connect({ host: "localhost", port: server.port, tls: { ca: certs.ca } });
    expect(line.secure).toBe(true);
    expect(await line.readLine(Deadline.in(5000))).toBe("220 secure hello");
    await line.writeLine("QUIT");
    expect(await line.readLine(Deadline.in(5000))).toBe("221 bye");
    await server.done();
    await line.close();
    await server.close();
  });

  it("tls-failed when the certificate is not trusted (verification on by default)", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: 220 hi\n", { tls: certs, implicitTls: true });
    expect(await transportErrorCode(LineSocket.connect({ host: "127.0.0.1", port: server.port, tls: {} }))).toBe("tls-failed");
    await server.close();
  });

  it("tls-failed when the host name does not match", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: 220 hi\n", { tls: certs, implicitTls: true });
    expect(await transportErrorCode(LineSocket.connect({ host: "127.0.0.1", port: server.port, tls: { ca: certs.ca, servername: "mail.example.com" } }))).toBe("tls-failed");
    await server.close();
  });

  it("tls-injection when the server sends bytes after its go-ahead (CVE-2011-0411)", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("!raw 220 go ahead\\r\\n250 injected\\r\\n\n!stall\n", { tls: certs });
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    expect(await line.readLine(Deadline.in(5000))).toBe("220 go ahead");
    expect(await transportErrorCode(line.startTls({ ca: certs.ca }, Deadline.in(5000)))).toBe("tls-injection");
    expect(line.closed).toBe(true);
    await server.close();
  });

  it("a write made once STARTTLS is decided is refused, never sent in clear; writes work again over TLS", async () => {
    const certs = await testCertificates();
    const serverGot: string[] = [];
    const inner = await rawServer((s) => {
      const side = LineSocket.accept(s);
      void (async () => {
        await side.writeLine("220 go ahead");
        await side.acceptTls({ key: certs.key, cert: certs.cert }, Deadline.in(5000));
        serverGot.push(await side.readLine(Deadline.in(5000)));
      })().catch((e: Error) => serverGot.push(`error: ${e.message}`));
    });
    // What the client puts on the wire, as an on-path observer sees it.
    const wire: Buffer[] = [];
    const proxy = await rawServer((c) => {
      const upstream = net.connect(inner.port, "127.0.0.1");
      upstream.on("error", () => undefined);
      c.on("data", (d) => wire.push(d));
      c.pipe(upstream).pipe(c);
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: proxy.port });
    try {
      expect(await line.readLine(Deadline.in(5000))).toBe("220 go ahead");
      const upgrade = line.startTls({ ca: certs.ca }, Deadline.in(5000));
      const sameTick = transportErrorCode(line.write("SAME-TICK-SECRET\r\n"));
      await new Promise((r) => setImmediate(r));
      const duringHandshake = transportErrorCode(line.write("HANDSHAKE-SECRET\r\n"));
      await upgrade;
      expect(await sameTick).toBe("tls-failed");
      expect(await duringHandshake).toBe("tls-failed");
      await line.writeLine("250 over tls");
      await vi.waitFor(() => expect(serverGot).toEqual(["250 over tls"]));
      expect(Buffer.concat(wire).toString("latin1")).not.toMatch(/SECRET|over tls/);
    } finally {
      line.destroy();
      await proxy.close();
      await inner.close();
    }
  });

  it("STARTTLS handshake times out at the deadline when the server never answers", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: 220 go ahead\n!stall\n", { tls: certs });
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    await line.readLine(Deadline.in(5000));
    expect(await transportErrorCode(line.startTls({ ca: certs.ca }, Deadline.in(200)))).toBe("timeout");
    await server.close();
  });

  it("aborted (not tls-failed) when the caller aborts during the STARTTLS handshake", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: 220 go ahead\n!stall\n", { tls: certs });
    const abort = new AbortController();
    const line = await LineSocket.connect({ host: server.host, port: server.port, signal: abort.signal });
    await line.readLine(Deadline.in(5000));
    const upgrade = transportErrorCode(line.startTls({ ca: certs.ca }, Deadline.in(5000)));
    setTimeout(() => abort.abort(), 50);
    expect(await upgrade).toBe("aborted");
    expect(line.closed).toBe(true);
    await server.close();
  });

  it("TLS settings Node refuses (a client key that does not match its certificate): tls-failed naming them, and a STARTTLS socket is closed, not left in clear", async () => {
    const certs = await testCertificates();
    const mismatched = { ca: certs.ca, cert: certs.clientCert, key: certs.key };
    const implicit = await startScriptedServer("S: 220 hi\n", { tls: certs, implicitTls: true });
    const error = await LineSocket.connect({ host: implicit.host, port: implicit.port, tls: mismatched }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: "tls-failed", message: expect.stringMatching(/TLS settings/) });
    await implicit.close();
    const server = await startScriptedServer("S: 220 go ahead\n!stall\n", { tls: certs });
    const line = await LineSocket.connect({ host: server.host, port: server.port });
    await line.readLine(Deadline.in(5000));
    expect(await transportErrorCode(line.startTls(mismatched, Deadline.in(5000)))).toBe("tls-failed");
    expect(line.closed).toBe(true);
    await server.close();
  });

  /** The server side's channel info after a STARTTLS where the client presents `cert`/`key` (requestCert, trusting the test CA). */
  async function serverChannelWithClientCertificate(pick: (certs: Awaited<ReturnType<typeof testCertificates>>) => { cert: string; key: string }) {
    const certs = await testCertificates();
    let info: ReturnType<LineSocket["channelInfo"]> | undefined;
    const server = await rawServer((s) => {
      const side = LineSocket.accept(s);
      void (async () => {
        await side.writeLine("220 go");
        await side.acceptTls({ key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true }, Deadline.in(5000));
        info = side.channelInfo();
        await side.writeLine("250 ok");
      })();
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    await line.readLine(Deadline.in(5000));
    await line.startTls({ ca: certs.ca, ...pick(certs) }, Deadline.in(5000));
    expect(await line.readLine(Deadline.in(5000))).toBe("250 ok");
    await line.close();
    await server.close();
    return info;
  }

  it("server side: localAddress is the address the client connected to; the client side has none", async () => {
    let serverSide!: LineSocket;
    const server = await rawServer((s) => {
      serverSide = LineSocket.accept(s);
      void serverSide.writeLine("220 go");
    });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port });
    await line.readLine(Deadline.in(5000));
    expect(serverSide.channelInfo("mx.example.test", 25)).toMatchObject({ host: "mx.example.test", port: 25, localAddress: "127.0.0.1" });
    expect(serverSide.channelInfo()).toMatchObject({ host: "127.0.0.1", localAddress: "127.0.0.1" });
    expect(line.channelInfo()).not.toHaveProperty("localAddress");
    await line.close();
    await server.close();
  });

  it("server side: client certificate CN becomes externalIdentity", async () => {
    const info = await serverChannelWithClientCertificate((certs) => ({ cert: certs.clientCert, key: certs.clientKey }));
    expect(info?.externalIdentity).toBe("testuser");
  });

  it("server side: a CA-issued certificate for serverAuth only gives no externalIdentity (purpose checked, RFC 5280 §4.2.1.12)", async () => {
    // The server's own certificate (extendedKeyUsage serverAuth) presented as a client certificate.
    const info = await serverChannelWithClientCertificate((certs) => ({ cert: certs.cert, key: certs.key }));
    expect(info?.secure).toBe(true);
    expect(info?.externalIdentity).toBeUndefined();
  });

  it("endPointHash follows RFC 5929 (ECDSA-SHA256 → sha256, garbage → undefined)", async () => {
    const certs = await testCertificates();
    expect(endPointHash(new X509Certificate(certs.cert).raw)).toBe("sha256");
    expect(endPointHash(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });
});

describe("TLS trust material per connection", () => {
  it("connections with different CAs in one process each verify against their own CA", async () => {
    const certs = await testCertificates();
    const tlsServer = await startScriptedServer("S: 220 hello\n!close", { tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    try {
      const ok = await LineSocket.connect({ host: "127.0.0.1", port: tlsServer.port, tls: { ca: certs.ca } });
      await ok.close();
      // A different trust store (Node's roots) in the same process must not reuse the first one.
      await expect(LineSocket.connect({ host: "127.0.0.1", port: tlsServer.port, tls: {} })).rejects.toMatchObject({ code: "tls-failed" });
      const again = await LineSocket.connect({ host: "127.0.0.1", port: tlsServer.port, tls: { ca: certs.ca } });
      await again.close();
    } finally {
      await tlsServer.close();
    }
  });
});
