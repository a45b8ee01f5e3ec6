/**
 * The embeddable SMTP server: a `net.Server` on a loopback address whose sessions authenticate
 * with saslkit server halves taken from the registry. It never resolves names (no DNS).
 */
import { createServer, type Server, type Socket } from "node:net";
import { MechanismRegistry } from "@saslkit/core";
import { LineSocket } from "@saslkit/transport";
import type { ReceivedMessage, SmtpServerHandle, SmtpServerOptions } from "./options.js";
import { SmtpSession, type SessionSettings } from "./session.js";

const MiB = 1024 * 1024;

/**
 * An SMTP server (RFC 5321) with ESMTP AUTH (RFC 4954), STARTTLS (RFC 3207), PIPELINING,
 * SIZE, 8BITMIME, SMTPUTF8 and ENHANCEDSTATUSCODES. Meant for demos, tests and local tools,
 * not as an MTA: it accepts messages for any recipient and hands them to `onMessage`.
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
  readonly #messages: ReceivedMessage[] = [];
  readonly #waiters: Array<(message: ReceivedMessage) => void> = [];
  #settings!: SessionSettings;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  private constructor(private readonly options: SmtpServerOptions) {
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  /** Starts listening and resolves once the port is bound. */
  static async start(options: SmtpServerOptions): Promise<SmtpServer> {
    if (options.implicitTls && !options.tls) throw new TypeError("implicitTls needs tls: { key, cert }.");
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
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(o.port ?? 0, this.host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#settings = {
      options: o,
      registry: MechanismRegistry.from(o.mechanisms),
      hostname: o.hostname ?? "localhost",
      localPort: this.port,
      maxMessageBytes: o.maxMessageBytes ?? 10 * MiB,
      maxRecipients: o.maxRecipients ?? 100,
      maxAuthFailures: o.maxAuthFailures ?? 3,
      maxErrors: o.maxErrors ?? 10,
      commandTimeoutMs: o.commandTimeoutMs ?? 300_000,
      dataTimeoutMs: o.dataTimeoutMs ?? 600_000,
      accept: (message) => this.#accept(message),
    };
  }

  async #accept(message: ReceivedMessage): Promise<void> {
    await this.options.onMessage?.(message.envelope, message.data);
    const keep = this.options.keepMessages ?? 100;
    if (keep > 0) {
      this.#messages.push(message);
      while (this.#messages.length > keep) this.#messages.shift();
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
    if (this.#sockets.size >= (this.options.maxConnections ?? 64)) {
      socket.end(`421 4.3.2 ${this.#settings.hostname} Too many connections, try again later\r\n`);
      return;
    }
    const line = LineSocket.accept(socket, { maxLineBytes: this.options.maxLineBytes ?? 65536 });
    this.#sockets.add(line);
    this.#raw.add(socket);
    this.options.transcript?.({ direction: "*", text: `connection from ${socket.remoteAddress ?? "?"}`, connection: id });
    void new SmtpSession(line, this.#settings, id).run().finally(() => {
      this.#sockets.delete(line);
      this.#raw.delete(socket);
    });
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
