/**
 * Test helpers: a raw SMTP client over node:net (no saslkit code on the client side, so the
 * server is checked at the wire level) and fake mechanism providers that exercise the framing.
 */
import net from "node:net";
import tls from "node:tls";
import { afterEach, expect } from "vitest";
import { USERNAME, PASSWORD, SaslError, splitBytes, utf8, type MechanismProvider, type SaslServerMechanism, type ServerStep } from "@saslkit/core";
import { SmtpServer, type SmtpServerOptions } from "../src/index.js";

/** A raw client: writes bytes, reads whole SMTP replies (multi-line aware), every wait bounded. */
export class RawClient {
  #socket: net.Socket;
  #buffer = "";
  #ended = false;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  #attach(socket: net.Socket): void {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake?.();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on("error", () => undefined);
  }

  static connect(port: number, options: { tls?: boolean; localAddress?: string; host?: string } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const local = options.localAddress ? { localAddress: options.localAddress } : {};
      const host = options.host ?? "127.0.0.1";
      const socket = options.tls
        ? tls.connect({ host, port, rejectUnauthorized: false, ...local }, () => resolve(new RawClient(socket)))
        : net.connect({ host, port, ...local }, () => resolve(new RawClient(socket)));
      socket.once("error", reject);
      setTimeout(() => reject(new Error("connect timed out")), 5000).unref();
    });
  }

  get secure(): boolean {
    return this.#socket instanceof tls.TLSSocket;
  }

  /** Writes raw text (add your own CRLFs). */
  send(text: string | Buffer): void {
    this.#socket.write(text);
  }

  /** Writes one line with CRLF and returns the next reply. */
  async command(line: string): Promise<string[]> {
    this.send(`${line}\r\n`);
    return this.reply();
  }

  /** The next complete reply's lines (`250-A`, `250 B`). Rejects on timeout or EOF. */
  async reply(timeoutMs = 5000): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let at = 0;
      for (;;) {
        const nl = this.#buffer.indexOf("\r\n", at);
        if (nl < 0) break;
        const line = this.#buffer.slice(at, nl);
        lines.push(line);
        at = nl + 2;
        if (/^\d{3}(?: |$)/.test(line)) {
          this.#buffer = this.#buffer.slice(at);
          return lines;
        }
      }
      if (this.#ended) throw new Error(`connection ended; partial reply ${JSON.stringify(lines)}`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms; buffered ${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Resolves when the server has closed the connection (rejects after the timeout). */
  async closed(timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!this.#ended) {
      const left = until - Date.now();
      if (left <= 0) throw new Error("server did not close the connection");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** True once the server closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Client side of STARTTLS, after the server's 220 (optionally with a client certificate). */
  async upgrade(ca: string, client: { cert: string; key: string } | undefined = undefined): Promise<void> {
    const plain = this.#socket;
    plain.removeAllListeners("data");
    const secure = tls.connect({ socket: plain, ca, servername: "localhost", ...(client ?? {}) });
    await new Promise<void>((resolve, reject) => {
      secure.once("secureConnect", resolve);
      secure.once("error", reject);
      setTimeout(() => reject(new Error("TLS handshake timed out")), 5000).unref();
    });
    this.#socket = secure;
    this.#attach(secure);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** Stops reading replies (a client that never reads). */
  pause(): void {
    this.#socket.pause();
  }

  /** Bytes written but not yet taken by the kernel (backpressure from the server). */
  get unsent(): number {
    return this.#socket.writableLength;
  }
}

/** Line ends around a dot that are not <CRLF>.<CRLF>: none may end a message (SMTP smuggling). */
export const FAKE_TERMINATORS: readonly (readonly [name: string, bytes: string])[] = [
  ["<LF>.<LF>", "\n.\n"],
  ["<LF>.<CR><LF>", "\n.\r\n"],
  ["<CR><LF>.<LF>", "\r\n.\n"],
  ["<CR>.<CR>", "\r.\r"],
  ["<CR>.<CR><LF>", "\r.\r\n"],
  ["<CR><LF>.<CR>", "\r\n.\r"],
  ["<LF>.<CR>", "\n.\r"],
  ["<CR>.<LF>", "\r.\n"],
];

export const b64 = (text: string | Uint8Array): string => Buffer.from(typeof text === "string" ? utf8(text) : text).toString("base64");
export const unb64 = (text: string): string => Buffer.from(text, "base64").toString("utf8");

const decoder = new TextDecoder();

/** A PLAIN-like server half (RFC 4616 message) over `verifyPassword`; declares it sends the secret in clear. */
export const fakePlain: MechanismProvider = {
  name: "PLAIN",
  priority: 300,
  clientFirst: true,
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false },
  needs: [USERNAME, PASSWORD],
  createClient: () => {
    throw new Error("client half not used in these tests");
  },
  createServer: (context): SaslServerMechanism => {
    const check = async (message: Uint8Array): Promise<ServerStep> => {
      const parts = splitBytes(message, 0);
      if (parts.length !== 3) return { type: "failure", code: "invalid-response", message: "PLAIN message malformed" };
      const [authzid, authcid, password] = parts.map((p) => decoder.decode(p)) as [string, string, string];
      const ok = await context.callbacks.verifyPassword?.(authcid, password);
      return ok ? { type: "success", identity: { authcid, authzid: authzid || authcid } } : { type: "failure", code: "authentication-failed", message: "bad credentials" };
    };
    return {
      name: "PLAIN",
      start: (initial) => (initial === null ? { type: "challenge", data: new Uint8Array(0) } : check(initial)),
      step: (response) => check(response),
    };
  },
};

/** What the recorder saw, for assertions. */
export const recorded: { initial: (Uint8Array | null)[]; channels: unknown[]; hostnames: string[] } = { initial: [], channels: [], hostnames: [] };

/**
 * X-RECORD: records its initial response, challenges "go on", then acts on the response text:
 * "ok" → success with data "done"; "ok-nodata" → success; "fail" → authentication-failed;
 * "authz" → authorization-failed; "temp" → temporary-failure; "throw" → throws a plain Error;
 * "malformed" → throws SaslError invalid-response.
 */
export const recorder: MechanismProvider = {
  name: "X-RECORD",
  priority: 500,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [],
  createClient: () => {
    throw new Error("client half not used in these tests");
  },
  createServer: (context) => {
    recorded.channels.push(context.channel);
    recorded.hostnames.push(context.hostname);
    return {
      name: "X-RECORD",
      start: (initial) => {
        recorded.initial.push(initial);
        return { type: "challenge", data: utf8("go on") };
      },
      step: (response) => {
        const text = decoder.decode(response);
        const identity = { authcid: "rec", authzid: "rec" };
        switch (text) {
          case "ok":
            return { type: "success", identity, data: utf8("done") };
          case "ok-nodata":
            return { type: "success", identity };
          case "fail":
            return { type: "failure", code: "authentication-failed", message: "no" };
          case "authz":
            return { type: "failure", code: "authorization-failed", message: "no" };
          case "temp":
            return { type: "failure", code: "temporary-failure", message: "later" };
          case "malformed":
            throw new SaslError("X-RECORD", "invalid-response", "response malformed.");
          default:
            throw new Error("unexpected response");
        }
      },
    };
  },
};

/** A provider without a server half: must never be advertised. */
export const clientOnly: MechanismProvider = {
  name: "X-CLIENT-ONLY",
  priority: 900,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [],
  createClient: () => {
    throw new Error("not used");
  },
};

export const users: Record<string, string> = { alice: "wonderland-Secret-7" };
export const callbacks = {
  verifyPassword: (user: string, password: string) => users[user] === password,
  lookupPassword: (user: string) => users[user],
};

/**
 * Servers and raw clients for one test file, closed after each test. `start` uses the fake
 * mechanisms and the test users; `login` connects, says EHLO and authenticates as alice.
 */
export function serverHarness(defaults: Partial<SmtpServerOptions> = {}) {
  const running: SmtpServer[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(running.splice(0).map((s) => s.close()));
  });
  const start = async (options: Partial<SmtpServerOptions> = {}): Promise<SmtpServer> => {
    const server = await SmtpServer.start({ mechanisms: [fakePlain, recorder, clientOnly], callbacks, commandTimeoutMs: 5000, ...defaults, ...options });
    running.push(server);
    return server;
  };
  const connect = async (server: SmtpServer, options: { ehlo?: boolean; localAddress?: string } = {}): Promise<RawClient> => {
    const client = await RawClient.connect(server.port, options.localAddress ? { localAddress: options.localAddress } : {});
    clients.push(client);
    expect((await client.reply())[0]).toMatch(/^220 /);
    if (options.ehlo !== false) expect((await client.command("EHLO client.test")).at(-1)).toMatch(/^250 /);
    return client;
  };
  const login = async (server: SmtpServer): Promise<RawClient> => {
    const client = await connect(server);
    expect(await client.command(`AUTH PLAIN ${b64(`\0alice\0${users.alice}`)}`)).toEqual(["235 2.7.0 Authentication successful"]);
    return client;
  };
  const track = (client: RawClient): RawClient => {
    clients.push(client);
    return client;
  };
  return { start, connect, login, track };
}

/** True when every CR in `data` is followed by LF and every LF preceded by CR. */
export function onlyCrlf(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0x0d && data[i + 1] !== 0x0a) return false;
    if (data[i] === 0x0a && data[i - 1] !== 0x0d) return false;
  }
  return true;
}

/** What a message is, by RFC 5321, written plainly: the oracle. */
export function referenceMessage(input: Buffer): { message: Buffer; rest: Buffer } | undefined {
  const s = `\r\n${input.toString("latin1")}`;
  const at = s.indexOf("\r\n.\r\n");
  if (at < 0) return undefined;
  const body = input.subarray(0, at).toString("latin1");
  const lines = body.split(/\r\n|\r|\n/);
  lines.pop(); // the body ends with a line end (or is empty)
  const text = lines.map((l) => (l.startsWith(".") ? l.slice(1) : l)).join("\r\n") + (body.length ? "\r\n" : "");
  return { message: Buffer.from(text, "latin1"), rest: input.subarray(at + 3) };
}

