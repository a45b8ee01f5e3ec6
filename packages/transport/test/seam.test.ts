import net from "node:net";
import { describe, expect, it } from "vitest";
import {
  Deadline,
  LineSocket,
  MAX_TIMER_MS,
  MailProtocolError,
  Redactor,
  TransportError,
  checkOptions,
  sharedClientOptions,
  timerDelay,
  type OptionProblem,
  type TranscriptEntry,
} from "@saslkit/transport";
import { startScriptedServer, testCertificates } from "@saslkit/test-kit";

const SECRET = "pässwörd-Secret1";

describe("Redactor: one secret, every form", () => {
  it("masks the raw secret, its latin1 reading and hex", () => {
    const r = new Redactor();
    r.addSecret(SECRET);
    const bytes = Buffer.from(SECRET, "utf8");
    expect(r.redact(`NO ${SECRET}`)).toBe("NO ****");
    expect(r.redact(`NO ${bytes.toString("latin1")}`)).toBe("NO ****");
    expect(r.redact(`x ${bytes.toString("hex")} ${bytes.toString("hex").toUpperCase()}`)).toBe("x **** ****");
  });

  it("finds the secret's base64 inside a longer base64 string at each of the three alignments", () => {
    const r = new Redactor();
    r.addSecret(SECRET);
    for (const prefix of ["", "a", "ab", "abc", "\0alice\0", "\0bob\0"]) {
      const b64 = Buffer.from(`${prefix}${SECRET}!tail`, "utf8").toString("base64");
      const out = r.redact(`NO [ALERT] echo ${b64}`);
      expect(out, prefix).toContain("****");
      // What is left of the base64 string decodes to nothing holding the secret.
      for (const piece of out.split(/[^A-Za-z0-9+/=]+/)) expect(Buffer.from(piece, "base64").toString("utf8")).not.toContain(SECRET);
    }
    const url = Buffer.from(`xy${SECRET}`).toString("base64url");
    expect(r.redact(url)).toContain("****");
  });

  it("masks the exact base64 of a payload and its decoded text", () => {
    const r = new Redactor();
    const payload = Buffer.from("\0alice\0hunter2-long").toString("base64");
    r.addPayload(payload);
    expect(r.redact(`A1 NO bad ${payload}`)).toBe("A1 NO bad ****");
    expect(r.redact("A1 NO \0alice\0hunter2-long")).toBe("A1 NO ****");
  });

  it("keeps `add` for one exact value and ignores values too short to mask safely", () => {
    const r = new Redactor();
    r.add("abc");
    r.addSecret("k");
    expect(r.size).toBe(0);
    expect(r.redact("OK abc k")).toBe("OK abc k");
  });
});

describe("LineSocket: the transcript and errors pass through the connection's redactor", () => {
  it("an echoed secret never reaches the caller's transcript sink, and socket.redact masks it", async () => {
    const b64 = Buffer.from(`\0alice\0${SECRET}`).toString("base64");
    const server = await startScriptedServer(`S: hello\nC: AUTH *\nS: -ERR echo ${b64} and ${SECRET}\n`);
    const transcript: TranscriptEntry[] = [];
    const line = await LineSocket.connect({ host: server.host, port: server.port, transcript: (e) => transcript.push(e) });
    const d = Deadline.in(5000);
    await line.readLine(d);
    line.redactor.addSecret(SECRET);
    line.redactor.addPayload(b64);
    await line.writeLine(`AUTH PLAIN ${b64}`, { mask: "AUTH PLAIN ****" });
    const reply = await line.readLine(d);
    expect(reply).toContain(SECRET); // the caller still reads the bytes the server sent
    expect(line.redact(reply)).toBe("-ERR echo **** and ****");
    const all = transcript.map((e) => e.text).join("\n");
    expect(all).not.toContain(SECRET);
    expect(all).not.toContain(b64);
    expect(all).toContain("-ERR echo **** and ****");
    await line.close();
    await server.close();
  });
});

describe("MailProtocolError", () => {
  class DemoError extends MailProtocolError<"authenticate", "authentication-failed", { text: string; lines: string[] }> {
    override readonly name = "DemoError";
  }

  it("has the (phase, code, message, options) order and redacts message, command, reply and stack", () => {
    const r = new Redactor();
    r.addSecret(SECRET);
    const e = new DemoError("authenticate", "authentication-failed", `server said ${SECRET}`, {
      command: `PASS ${SECRET}`,
      reply: { text: `-ERR ${SECRET}`, lines: [SECRET] },
      mechanism: "PLAIN",
      login: "USER",
      redact: (t) => r.redact(t),
    });
    expect(e).toBeInstanceOf(MailProtocolError);
    expect(e.phase).toBe("authenticate");
    expect(e.code).toBe("authentication-failed");
    expect(e.mechanism).toBe("PLAIN");
    expect(e.login).toBe("USER");
    expect(`${e.message}${e.command}${JSON.stringify(e.reply)}${e.stack}`).not.toContain(SECRET);
  });
});

describe("checkOptions: configuration errors name the option and what is accepted", () => {
  const fail = (p: OptionProblem) => Object.assign(new Error(p.message), { option: p.option });
  const check = (options: unknown) => {
    try {
      checkOptions(options, sharedClientOptions(), fail);
      return undefined;
    } catch (error) {
      return error as Error & { option: string };
    }
  };

  it("refuses a wrong-case or misspelt TLS mode instead of falling back to cleartext", () => {
    for (const tls of ["STARTTLS", "implict", true]) {
      const e = check({ host: "h", tls });
      expect(e?.option).toBe("tls");
      expect(e?.message).toMatch(/"implicit", "starttls", "none" or absent/);
    }
    expect(check({ host: "h", tls: { rejectUnauthorized: false } })?.message).toMatch(/tlsOptions/);
  });

  it("refuses keys of other mail libraries with what to use instead", () => {
    expect(check({ host: "h", secure: true })?.message).toMatch(/"secure".*tls: "implicit"/);
    expect(check({ host: "h", requireTLS: true })?.option).toBe("requireTLS");
    expect(check({ host: "h", auth: { user: "a", pass: "b" } })?.message).toMatch(/auth\.user.*auth\.username/);
    expect(check({ host: "h", auth: { username: "a", pass: "b" } })?.option).toBe("auth.pass");
  });

  it("refuses unknown keys and wrong values, never quoting a secret", () => {
    expect(check({ host: "h", timeout: 5 })?.message).toMatch(/Unknown option "timeout"/);
    expect(check({ host: "h", timeouts: { reply: -1 } })?.option).toBe("timeouts.reply");
    expect(check({ host: "h", port: 70000 })?.option).toBe("port");
    const e = check({ host: "h", auth: { username: "a", password: 12345678 } });
    expect(e?.option).toBe("auth.password");
    expect(e?.message).not.toContain("12345678");
  });

  it("a key named like an Object.prototype member is an unknown option (typed, named), not a crash", () => {
    for (const key of ["toString", "constructor", "hasOwnProperty", "valueOf"]) {
      const top = check({ host: "h", [key]: 1 });
      expect(top?.option).toBe(key);
      expect(top?.message).toMatch(new RegExp(`Unknown option "${key}"`));
      expect(check({ host: "h", timeouts: { [key]: 1 } })?.option).toBe(`timeouts.${key}`);
      expect(check({ host: "h", tlsOptions: { [key]: 1 } })?.option).toBe(`tlsOptions.${key}`);
    }
    // JSON configuration can carry an own "__proto__" key.
    expect(check(JSON.parse('{"host":"h","__proto__":{"tls":"none"}}'))?.option).toBe("__proto__");
    // Open objects (credentials, policy, mechanism options) take such keys as they take any other.
    expect(check({ host: "h", auth: { username: "a", password: "b", constructor: "x" }, mechanismOptions: { toString: {} } })).toBeUndefined();
  });

  it("checks inherited values too: the client reads them", () => {
    const inherited = Object.assign(Object.create({ tls: "STARTTLS" }) as object, { host: "h" });
    expect(check(inherited)?.option).toBe("tls");
    expect(check(Object.assign(Object.create({ secure: true }) as object, { host: "h" }))?.option).toBe("secure");
    class Settings {
      readonly host = "h";
      get tls(): string {
        return "implict";
      }
    }
    expect(check(new Settings())?.option).toBe("tls");
    expect(check(Object.assign(Object.create({ tls: "none", port: 25 }) as object, { host: "h" }))).toBeUndefined();
  });

  it("accepts good options, extensible credentials and Infinity timeouts", () => {
    expect(check({ host: "h", port: 993, tls: "implicit", auth: { username: "a", password: "b", token: "t" }, timeouts: { connect: Infinity, reply: 5000 }, fallback: false })).toBeUndefined();
  });
});

describe("timeouts mean what they say", () => {
  it("clamps delays to setTimeout's range", () => {
    expect(timerDelay(Infinity)).toBe(MAX_TIMER_MS);
    expect(timerDelay(2 ** 40)).toBe(MAX_TIMER_MS);
    expect(timerDelay(-3)).toBe(0);
    expect(timerDelay(Number.NaN)).toBe(0);
  });

  it("an Infinity or > 2^31 ms deadline does not fire early (Node's overflow fires after 1 ms)", async () => {
    let fired = 0;
    const cancels = [Deadline.in(Infinity), Deadline.in(2 ** 31 + 10), Deadline.in(2 ** 40)].map((d) => d.onExpiry(() => fired++));
    await new Promise((r) => setTimeout(r, 30));
    expect(fired).toBe(0);
    for (const cancel of cancels) cancel();
    const near = Deadline.in(5);
    await new Promise<void>((resolve) => near.onExpiry(resolve));
    expect(near.expired()).toBe(true);
  });

  it("connect and reads with an Infinity timeout wait instead of timing out", async () => {
    const server = await startScriptedServer("!sleep 60\nS: hello\n");
    const line = await LineSocket.connect({ host: server.host, port: server.port, connectTimeoutMs: Infinity });
    expect(await line.readLine(Deadline.in(Infinity))).toBe("hello");
    await line.close();
    await server.close();
  });
});

describe("servername never changes where the client connects", () => {
  it("host decides the address; servername only the name verified", async () => {
    const certs = await testCertificates();
    const seen: string[] = [];
    const server = await startScriptedServer("S: hi\n", { tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    // A name in the certificate: connects to 127.0.0.1 and verifies "localhost".
    const ok = await LineSocket.connect({ host: "127.0.0.1", port: server.port, tls: { ca: certs.ca, servername: "localhost" } });
    seen.push(ok.remoteAddress ?? "");
    expect(await ok.readLine(Deadline.in(5000))).toBe("hi");
    await ok.close();
    await server.close();
    expect(seen).toEqual(["127.0.0.1"]);

    // An IP servername that is not the host: still connects to host (a TLS failure, not a
    // connection refused at 127.0.0.2), and the certificate must name 127.0.0.2 to pass.
    const listener = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    const port = (listener.address() as net.AddressInfo).port;
    const accepted = new Promise<void>((r) => listener.once("connection", () => r()));
    const failure = await LineSocket.connect({ host: "127.0.0.1", port, tls: { ca: certs.ca, servername: "127.0.0.2" } }).catch((e: unknown) => e);
    await accepted;
    expect(failure).toBeInstanceOf(TransportError);
    expect((failure as TransportError).code).toBe("tls-failed");
    await new Promise((r) => listener.close(r));
  });

  it("an IP servername is verified against the certificate's IP names", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: hi\n", { tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, tls: { ca: certs.ca, servername: "127.0.0.1" } });
    expect(await line.readLine(Deadline.in(5000))).toBe("hi");
    await line.close();
    await server.close();
  });
});

describe("channel binding facts are read once per connection", () => {
  it("channel keeps listing tls-server-end-point after binding data was read", async () => {
    const certs = await testCertificates();
    const server = await startScriptedServer("S: hi\n!sleep 200\n", { tls: { key: certs.key, cert: certs.cert }, implicitTls: true });
    const line = await LineSocket.connect({ host: "127.0.0.1", port: server.port, tls: { ca: certs.ca } });
    const first = line.channelInfo().channelBinding!;
    expect(first.types).toContain("tls-server-end-point");
    const data = first.data("tls-server-end-point");
    expect(data?.length).toBe(32);
    for (let i = 0; i < 3; i++) {
      const again = line.channelInfo().channelBinding!;
      expect(again.types).toContain("tls-server-end-point");
      expect(Buffer.from(again.data("tls-server-end-point")!)).toEqual(Buffer.from(data!));
    }
    line.destroy();
    await server.close();
  });
});

describe("reading a line that arrives in many packets", () => {
  it("a 60 KiB line and a literal sent in small pieces are read intact, and so is what follows", async () => {
    const line = Array.from({ length: 60 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join("");
    const literal = Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251));
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      void (async () => {
        const payload = Buffer.concat([Buffer.from(`${line}\r\n`), literal, Buffer.from("tail\r\nnext\r\n")]);
        for (let at = 0; at < payload.length; at += 1500) {
          socket.write(payload.subarray(at, at + 1500));
          if ((at / 1500) % 8 === 0) await new Promise((r) => setImmediate(r));
        }
      })();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const socket = await LineSocket.connect({ host: "127.0.0.1", port });
    const d = Deadline.in(10_000);
    expect(await socket.readLine(d)).toBe(line);
    const bytes = await socket.readBytes(literal.length, d);
    expect(Buffer.compare(bytes, literal)).toBe(0);
    expect(await socket.readLine(d)).toBe("tail");
    expect(await socket.readLine(d)).toBe("next");
    expect(socket.buffered).toBe(0);
    socket.destroy();
    await new Promise((r) => server.close(r));
  });
});
