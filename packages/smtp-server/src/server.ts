/**
 * The embeddable SMTP server: a `net.Server` whose sessions authenticate with saslkit server
 * halves taken from the registry. It never resolves names (no DNS).
 */
import { createServer, isIPv4, isIPv6, type Server, type Socket } from "node:net";
import { MechanismRegistry } from "@saslkit/core";
import { LineSocket } from "@saslkit/transport";
import { validateOptions, type ReceivedMessage, type SmtpServerHandle, type SmtpServerOptions } from "./options.js";
import { SmtpSession, type SessionSettings } from "./session.js";

const MiB = 1024 * 1024;

/**
 * Who counts as one client for the per-client limit: an IPv4 address (IPv4-mapped IPv6 counts as
 * the IPv4 address it carries), or an IPv6 /64, since one host usually holds a whole /64 and could
 * otherwise open each connection from a new address.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return "?";
  const a = address.toLowerCase();
  if (a.startsWith("::ffff:") && isIPv4(a.slice(7))) return a.slice(7);
  if (!isIPv6(a)) return a;
  const [head = "", tail = ""] = a.split("::", 2);
  const left = head ? head.split(":") : [];
  const right = a.includes("::") ? (tail ? tail.split(":") : []) : [];
  // An embedded IPv4 tail (::1.2.3.4) takes two groups; only the first four groups matter here.
  const groups = a.includes("::") ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * An SMTP server (RFC 5321) with ESMTP AUTH (RFC 4954), STARTTLS (RFC 3207), PIPELINING,
 * SIZE, 8BITMIME, SMTPUTF8 (RFC 6531: a non-ASCII address only in a transaction that declares
 * it; a command line that is not UTF-8 is refused), ENHANCEDSTATUSCODES, CHUNKING and BINARYMIME
 * (RFC 3030). Meant for demos, tests and local tools, not as an MTA: it accepts messages for any recipient from
 * authenticated clients (submission, RFC 6409) and hands them to `onData` and its bounded store.
 *
 * ```ts
 * const server = await SmtpServer.start({ mechanisms: [plain, scramSha256], callbacks, tls });
 * // ... send to 127.0.0.1:server.port ...
 * const message = await server.nextMessage();
 * await server.close();
 * ```
 */
export class SmtpServer implements SmtpServerHandle {
  readonly #server: Server;
  readonly #sockets = new Set<LineSocket>();
  readonly #raw = new Set<Socket>();
  /** Open connections per client address (Postfix's anvil). */
  readonly #perClient = new Map<string, number>();
  readonly #messages: ReceivedMessage[] = [];
  #storedBytes = 0;
  readonly #waiters: Array<(message: ReceivedMessage) => void> = [];
  #settings!: SessionSettings;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  private constructor(private readonly options: SmtpServerOptions) {
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  /** Starts listening and resolves once the port is bound. Throws `SmtpServerOptionError` for a wrong option. */
  static async start(options: SmtpServerOptions): Promise<SmtpServer> {
    validateOptions(options);
    const server = new SmtpServer(options);
    await server.#listen();
    return server;
  }

  get host(): string {
    return this.options.host ?? "127.0.0.1";
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  get messages(): readonly ReceivedMessage[] {
    return this.#messages;
  }

  nextMessage(timeoutMs = 10_000): Promise<ReceivedMessage> {
    if (!this.#settings.keep) return Promise.reject(new Error("nextMessage() needs the message store (keepMessages and keepBytes above 0); use onData instead."));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(deliver);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`No message arrived within ${timeoutMs} ms.`));
      }, timeoutMs);
      const deliver = (message: ReceivedMessage) => {
        clearTimeout(timer);
        resolve(message);
      };
      this.#waiters.push(deliver);
    });
  }

  async #listen(): Promise<void> {
    const o = this.options;
    const registry = MechanismRegistry.from(o.mechanisms);
    const requireAuth = o.requireAuth ?? true;
    if (requireAuth && !registry.list().some((p) => p.createServer !== undefined)) {
      throw new TypeError("requireAuth (the default) needs at least one mechanism with a server half; pass mechanisms, or requireAuth: false for an open server.");
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(o.port ?? 0, this.host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#settings = {
      options: o,
      registry,
      hostname: o.hostname ?? "localhost",
      localPort: this.port,
      requireAuth,
      cleartext: o.cleartext ?? "loopback",
      bareNewline: o.bareNewline ?? "normalize",
      maxMessageBytes: o.maxMessageBytes ?? 10 * MiB,
      maxLineBytes: o.maxLineBytes ?? 65536,
      maxRecipients: o.maxRecipients ?? 100,
      maxAuthFailures: o.maxAuthFailures ?? 3,
      maxErrors: o.maxErrors ?? 10,
      maxCommandsBeforeAuth: o.maxCommandsBeforeAuth ?? 50,
      authTimeoutMs: o.authTimeoutMs ?? 120_000,
      commandTimeoutMs: o.commandTimeoutMs ?? 300_000,
      dataTimeoutMs: o.dataTimeoutMs ?? 600_000,
      keep: (o.keepMessages ?? 100) > 0 && (o.keepBytes ?? 32 * MiB) > 0,
      accept: (message) => this.#accept(message),
    };
  }

  /** The bounded store: at most `keepMessages` messages and `keepBytes` bytes, oldest dropped first. */
  async #accept(message: ReceivedMessage): Promise<void> {
    if (this.#settings.keep) {
      const keep = this.options.keepMessages ?? 100;
      const keepBytes = this.options.keepBytes ?? 32 * MiB;
      if (message.data.length <= keepBytes) {
        this.#messages.push(message);
        this.#storedBytes += message.data.length;
        while (this.#messages.length > keep || this.#storedBytes > keepBytes) this.#storedBytes -= this.#messages.shift()!.data.length;
      }
    }
    for (const deliver of this.#waiters.splice(0)) deliver(message);
  }

  #onConnection(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined); // errors surface through the LineSocket reads
    const id = this.#nextId++;
    const hostname = this.#settings.hostname;
    if (this.#sockets.size >= (this.options.maxConnections ?? 64)) return this.#refuse(socket, `421 4.3.2 ${hostname} Too many connections, try again later`);
    const key = clientKey(socket.remoteAddress);
    const count = this.#perClient.get(key) ?? 0;
    if (count >= (this.options.maxConnectionsPerClient ?? 16)) {
      this.options.transcript?.({ direction: "*", text: `connection from ${key} refused: too many connections from this address`, connection: id });
      return this.#refuse(socket, `421 4.7.0 ${hostname} Too many connections from your address, try again later`);
    }
    this.#perClient.set(key, count + 1);
    // The server reads raw chunks (reader.ts), so the transport's own line limit never applies; it
    // still bounds the transport's buffer.
    const line = LineSocket.accept(socket, { maxLineBytes: this.#settings.maxLineBytes });
    this.#sockets.add(line);
    this.#raw.add(socket);
    this.options.transcript?.({ direction: "*", text: `connection from ${socket.remoteAddress ?? "?"}`, connection: id });
    void new SmtpSession(line, this.#settings, id).run().finally(() => {
      this.#sockets.delete(line);
      this.#raw.delete(socket);
      const left = (this.#perClient.get(key) ?? 1) - 1;
      if (left > 0) this.#perClient.set(key, left);
      else this.#perClient.delete(key);
    });
  }

  /**
   * Says `reply` and closes. A refused client gets no session and no slot; it is destroyed after a
   * short grace if it does not close its side, and by `close()` at once.
   */
  #refuse(socket: Socket, reply: string): void {
    this.#raw.add(socket);
    const timer = setTimeout(() => socket.destroy(), 2000).unref();
    socket.once("close", () => {
      clearTimeout(timer);
      this.#raw.delete(socket);
    });
    socket.end(`${reply}\r\n`);
  }

  /** Stops accepting, closes every session, resolves when the listener and all sockets are closed. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const line of this.#sockets) line.destroy();
      for (const raw of this.#raw) raw.destroy();
      await stopped;
    })();
    return this.#closing;
  }
}
