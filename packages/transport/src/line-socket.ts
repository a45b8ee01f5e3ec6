/**
 * `LineSocket`: the one socket abstraction every saslkit adapter (SMTP, IMAP, POP3, the embedded
 * server) codes against. A line reader with a hard cap on line length, absolute deadlines on
 * every wait, backpressure-respecting writes, STARTTLS in both directions with the
 * command-injection check, channel-binding data, and a transcript with masking.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import type { ChannelBinding, ChannelInfo } from "@saslkit/core";
import { channelBindingFor } from "./channel.js";
import { verifyClientCertificate } from "./client-certificate.js";
import { Deadline, unwatchDeadline, watchDeadline, type DeadlineWatch } from "./deadline.js";
import { TransportError } from "./errors.js";
import { Redactor } from "./redactor.js";

/** One transcript line. `C` = client to server, `S` = server to client, `*` = a local note. */
export interface TranscriptEntry {
  readonly direction: "C" | "S" | "*";
  readonly text: string;
}

/** Receives transcript entries as they happen. Must not throw. */
export type TranscriptSink = (entry: TranscriptEntry) => void;

/** TLS settings for implicit TLS and STARTTLS. Certificate verification is on unless `rejectUnauthorized: false`. */
export interface TlsSettings {
  /**
   * Trusted CA certificate(s), PEM. Default: Node's bundled roots. The clients' option check refuses
   * an empty value or one without a PEM certificate (Node reads an empty one as absent: its public
   * roots, not the CA meant; a key or another PEM block as no CA at all).
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Verify the server certificate and host name. Default true. */
  rejectUnauthorized?: boolean;
  /**
   * The name the server's certificate is verified against, and the SNI (when it is a name, not an
   * IP). Default: the connect host. It never changes where the client connects: `host` does.
   */
  servername?: string;
  /** Client certificate (EXTERNAL), PEM. */
  cert?: string | Buffer;
  /** Client key, PEM. */
  key?: string | Buffer;
  /** Lowest TLS version accepted. Default TLSv1.2. */
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

export interface ConnectOptions {
  host: string;
  port: number;
  /** An object means implicit TLS (SMTPS 465, IMAPS 993); false or absent means plain TCP. */
  tls?: TlsSettings | false;
  /** Time limit for TCP connect plus, with implicit TLS, the handshake. Default 15000 ms. */
  connectTimeoutMs?: number;
  /** An absolute deadline for TCP connect plus handshake; wins over `connectTimeoutMs` when earlier. */
  deadline?: Deadline;
  /** Longest line accepted (bytes, without CRLF). Default 65536. */
  maxLineBytes?: number;
  transcript?: TranscriptSink;
  /** Aborting destroys the connection; pending and later operations reject with "aborted". */
  signal?: AbortSignal;
}

export interface AcceptOptions {
  maxLineBytes?: number;
  transcript?: TranscriptSink;
}

/** Wraps `sink` so that every entry passes through `redactor` first. */
function redactedSink(sink: TranscriptSink | undefined, redactor: Redactor): TranscriptSink | undefined {
  if (!sink) return undefined;
  return (entry) => {
    const text = redactor.redact(entry.text);
    sink(text === entry.text ? entry : { direction: entry.direction, text });
  };
}

export interface ServerTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  ca?: string | Buffer | Array<string | Buffer>;
  /** Ask the client for a certificate (EXTERNAL). Unverified certificates are accepted but give no identity. */
  requestCert?: boolean;
  minVersion?: "TLSv1.2" | "TLSv1.3";
}

export interface WriteOptions {
  /** Transcript text to show instead of the data (e.g. "AUTH PLAIN ****"). */
  mask?: string;
  /** Set false to leave this write out of the transcript (message bodies). Default true. */
  transcript?: boolean;
  /** Optional deadline for the wait on backpressure. Without one, a write waits until drain or close. */
  deadline?: Deadline;
}

const DEFAULT_MAX_LINE = 65536;
const DEFAULT_CONNECT_TIMEOUT = 15000;
const CLOSE_WAIT_MS = 2000;
const LF = 0x0a;
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The promise `write` and `writePieces` return when the data was handed to the socket without
 * backpressure: already resolved, shared by every such write. A caller on a hot path may compare
 * with it to go on without a microtask hop (`if (p !== WRITTEN) await p`).
 */
export const WRITTEN: Promise<void> = RESOLVED;
const EMPTY = Buffer.alloc(0);
/** Writes of one tick up to this many bytes in all are joined into one buffer; more go out as a writev. */
const JOIN_MAX = 64 * 1024;

/** Several writes as one: a string when all are strings (commands), else one buffer. */
function joinHeld(held: readonly (string | Uint8Array)[]): string | Buffer {
  let bytes = 0;
  let strings = true;
  for (let i = 0; i < held.length; i++) {
    const item = held[i]!;
    if (typeof item === "string") bytes += Buffer.byteLength(item, "utf8");
    else {
      strings = false;
      bytes += item.byteLength;
    }
  }
  if (strings) return (held as string[]).join("");
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (let i = 0; i < held.length; i++) {
    const item = held[i]!;
    if (typeof item === "string") at += out.write(item, at, "utf8");
    else {
      out.set(item, at);
      at += item.byteLength;
    }
  }
  return out;
}

/** A read waiting for data. */
interface Waiter {
  readonly deadline: Deadline;
  readonly what: string;
  readonly attempt: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly mapError: ((error: unknown) => unknown) | undefined;
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/**
 * The last address given to `isLoopback` and to `net.isIPv4`, with the answers: a client connects
 * to the same host again and again, and both are pure functions of the string (no stale answer
 * is possible), so each connection is spared two regex matches.
 */
let lastLoopback: { readonly address: string | undefined; readonly loopback: boolean } | undefined;
let lastIPv4: { readonly host: string; readonly ipv4: boolean } | undefined;

function isLoopbackAddress(address: string | undefined): boolean {
  if (lastLoopback === undefined || lastLoopback.address !== address) lastLoopback = { address, loopback: isLoopback(address) };
  return lastLoopback.loopback;
}

function isIPv4(host: string): boolean {
  if (lastIPv4 === undefined || lastIPv4.host !== host) lastIPv4 = { host, ipv4: net.isIPv4(host) };
  return lastIPv4.ipv4;
}

/**
 * True when a connect error came before any TLS byte: the TCP connect or the name lookup failed.
 * A name with several addresses fails with Node's AggregateError (no syscall of its own) holding
 * one such error per address tried.
 */
function beforeTls(error: Error & { syscall?: string; errors?: unknown }): boolean {
  if (error.syscall === "connect" || error.syscall === "getaddrinfo") return true;
  const each = error.errors;
  return Array.isArray(each) && each.length > 0 && each.every((e) => e instanceof Error && e !== error && beforeTls(e));
}

function describeTls(error: unknown): string {
  const e = error as { code?: string; message?: string } | undefined;
  return e?.code ?? e?.message ?? "unknown error";
}

// A SecureContext (an OpenSSL SSL_CTX with the parsed CA store) per connection costs CPU and
// native memory that glibc returns slowly: a 10,000-session soak grew RSS by ~4 KB a session while
// the JS heap stayed flat. Contexts are shared between connections with the same trust material.
const CONTEXTS_KEPT = 32;
const contexts = new Map<string, tls.SecureContext>();

function clientContext(settings: TlsSettings): tls.SecureContext {
  const hash = createHash("sha256").update(settings.minVersion ?? "TLSv1.2");
  const add = (part: string | Buffer | undefined) => hash.update(part === undefined ? "\0-" : `\0${part.length}:`).update(part ?? "");
  for (const ca of settings.ca === undefined ? [undefined] : Array.isArray(settings.ca) ? settings.ca : [settings.ca]) add(ca);
  add(settings.cert);
  add(settings.key);
  const key = hash.digest("hex");
  let context = contexts.get(key);
  if (context) {
    contexts.delete(key);
  } else {
    try {
      context = tls.createSecureContext({
        minVersion: settings.minVersion ?? "TLSv1.2",
        ...(settings.ca !== undefined ? { ca: settings.ca } : {}),
        ...(settings.cert !== undefined ? { cert: settings.cert } : {}),
        ...(settings.key !== undefined ? { key: settings.key } : {}),
      });
    } catch (error) {
      // A key that does not match its certificate, a damaged PEM: the caller's settings, not the peer.
      throw new TransportError("tls-failed", `The TLS settings were refused (${describeTls(error)}): check the CA, certificate and key.`, { cause: error });
    }
    if (contexts.size >= CONTEXTS_KEPT) contexts.delete(contexts.keys().next().value as string);
  }
  contexts.set(key, context);
  return context;
}

/**
 * A line-oriented socket. Reads are serialised (one at a time, in call order); writes may be
 * issued freely. Every read takes a `Deadline`.
 *
 * Role: created by `connect` it is a client (transcript: writes are `C`, reads `S`); created by
 * `accept` it is a server (writes `S`, reads `C`).
 */
export class LineSocket {
  #socket: net.Socket;
  #tls: tls.TLSSocket | undefined;
  readonly #isServer: boolean;
  readonly #maxLine: number;
  readonly #transcript: TranscriptSink | undefined;
  /** Client: the host and port given to `connect`. Server: the local address and port the client connected to (`accept`). */
  readonly #host: string | undefined;
  readonly #port: number | undefined;
  /**
   * Received bytes; those from `#start` on are unread. A read moves `#start` instead of taking a
   * view of the rest (a Buffer per line); once everything is read `#buffer` is let go.
   */
  #buffer: Buffer = EMPTY;
  #start = 0;
  /** Unread bytes (after `#start`) already known to hold no LF (a line arriving in many packets is scanned once). */
  #scanned = 0;
  /** Backing storage `#buffer` may be a tail of, with room after `#storeUsed` bytes (see `#append`). */
  #store: Buffer | undefined;
  #storeUsed = 0;
  #eof = false;
  #failure: TransportError | undefined;
  #closed = false;
  /** Reads waiting for data, in call order; the head is the one being served. Empty: a read may complete synchronously. */
  readonly #waiters: Waiter[] = [];
  /** Resolved when `#waiters` empties (STARTTLS waits for earlier reads). */
  #drained: (() => void)[] | undefined;
  #pumping = false;
  /**
   * The head waiter's deadline, watched on the process's one deadline timer (`watchDeadline`):
   * when it fires early for a later deadline the head watches again.
   */
  #watch: DeadlineWatch | undefined;
  readonly #onTimer = (): void => {
    this.#watch = undefined;
    this.#pump();
  };
  /**
   * Writes of this tick (see `write`): the socket they are for (a flush is scheduled on
   * nextTick), what is held back to be joined into one write, and whether the socket is corked
   * instead (a tick that wrote message pieces: those go out as one writev, uncopied).
   */
  #tick: net.Socket | undefined;
  readonly #held: (string | Uint8Array)[] = [];
  /** An upper bound on the UTF-8 bytes in `#held` (see `write`). */
  #heldBytes = 0;
  #corked = false;
  /** Hands this tick's writes to the socket now: before anything that bypasses or ends it (TLS upgrade, destroy, end). */
  readonly #flush = (): void => {
    const socket = this.#tick;
    if (socket === undefined) return;
    this.#tick = undefined;
    this.#release(socket);
    if (this.#corked) {
      this.#corked = false;
      socket.uncork();
    }
  };
  /** A TLS upgrade was asked for and has not ended: nothing more may be written in clear (`#unwritable`). */
  #upgrading = false;
  #paused = false;
  #externalIdentity: string | undefined;
  #detach: (() => void) | undefined;

  /**
   * Called with every chunk of raw (decrypted) bytes as it arrives, before any read consumes it.
   * Test servers use it to see which bytes arrived together (round-trip counting).
   */
  onReceive: ((chunk: Buffer) => void) | undefined;

  /**
   * Called once when the socket has closed (the peer hung up, it failed, `destroy`, the abort
   * signal), with the error reads now fail with. Pending reads fail by themselves; an adapter
   * waiting on something else (a message body's source) learns here that the wait is over.
   */
  onClosed: ((error: TransportError) => void) | undefined;

  /**
   * The connection's one secret detector. Adapters register every secret they may send
   * (`addSecret`) and every base64 payload of an authentication exchange (`addPayload`); every
   * transcript entry passes through it before the caller's sink, and `redact` applies it to
   * server-derived text that goes into an error.
   */
  readonly redactor = new Redactor();
  /** Channel-binding facts, read once per TLS session (Node gives the peer certificate only once). */
  #binding: ChannelBinding | undefined;

  private constructor(socket: net.Socket, isServer: boolean, maxLine: number, transcript: TranscriptSink | undefined, host?: string, port?: number) {
    this.#socket = socket;
    this.#isServer = isServer;
    this.#maxLine = maxLine;
    this.#transcript = redactedSink(transcript, this.redactor);
    this.#host = host;
    this.#port = port;
    socket.setNoDelay(true); // Nagle would cost ~40 ms per pipelined burst (bench-notes.md).
    if (socket instanceof tls.TLSSocket) this.#tls = socket;
    this.#attach(socket);
  }

  // ---------------------------------------------------------------------------------------------
  // Construction.
  // ---------------------------------------------------------------------------------------------

  /** Connects as a client. Rejects with "connect-failed", "timeout", "tls-failed" or "aborted". */
  static connect(options: ConnectOptions): Promise<LineSocket> {
    const deadline = Deadline.in(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT).min(options.deadline);
    const maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE;
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new TransportError("aborted", "The connection attempt was aborted before it started."));
    const tlsSettings = options.tls || undefined;
    return new Promise<LineSocket>((resolve, reject) => {
      let socket: net.Socket;
      const readyEvent = tlsSettings ? "secureConnect" : "connect";
      if (tlsSettings) {
        let settings: tls.ConnectionOptions;
        try {
          settings = LineSocket.#clientTlsOptions(tlsSettings, options.host);
        } catch (error) {
          reject(error);
          return;
        }
        socket = tls.connect({ host: options.host, port: options.port, ...settings });
      } else {
        socket = net.connect({ host: options.host, port: options.port });
      }
      let settled = false;
      const finish = (error?: TransportError) => {
        if (settled) return;
        settled = true;
        unwatchDeadline(watch);
        signal?.removeEventListener("abort", onAbort);
        socket.off("error", onError);
        socket.off(readyEvent, onReady);
        if (error) {
          socket.destroy();
          reject(error);
          return;
        }
        const line = new LineSocket(socket, false, maxLine, options.transcript, options.host, options.port);
        if (signal) line.#watchSignal(signal);
        if (tlsSettings) line.#note(`TLS established (${(socket as tls.TLSSocket).getProtocol() ?? "unknown version"})`);
        resolve(line);
      };
      // Messages are built only on failure: nothing of them is formatted for a connect that succeeds.
      // A failed TCP connect or name lookup is no TLS failure (`connecting` is already false then).
      const onError = (error: Error & { code?: string; syscall?: string }) => finish(LineSocket.#connectFailure(options, error, tlsSettings !== undefined && !beforeTls(error)));
      const onReady = () => finish();
      const onAbort = () => finish(new TransportError("aborted", `The connection to ${options.host}:${options.port} was aborted.`, { cause: signal?.reason }));
      const watch = watchDeadline(deadline.at, () => finish(LineSocket.#connectTimeout(options, deadline)));
      // `on`, not `once`: `finish` removes both on the first call (once would wrap each listener).
      socket.on("error", onError);
      socket.on(readyEvent, onReady);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** The error of a connect attempt that failed: in the TLS handshake (`tls`) or before. */
  static #connectFailure(options: ConnectOptions, error: Error & { code?: string }, tls: boolean): TransportError {
    const where = `${options.host}:${options.port}`;
    return tls
      ? new TransportError("tls-failed", `The TLS handshake with ${where} failed (${describeTls(error)}).`, { cause: error })
      : new TransportError("connect-failed", `Could not connect to ${where} (${error.code ?? error.message}).`, { cause: error });
  }

  /** The error of a connect attempt that reached `deadline` (the caller's, or `connectTimeoutMs`). */
  static #connectTimeout(options: ConnectOptions, deadline: Deadline): TransportError {
    const limit = options.deadline && options.deadline.at <= deadline.at ? "the connect deadline" : `${options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT} ms`;
    return new TransportError("timeout", `Connecting to ${options.host}:${options.port} took longer than ${limit}.`);
  }

  /** Wraps an accepted server-side socket (from `net.createServer`). */
  static accept(socket: net.Socket, options: AcceptOptions = {}): LineSocket {
    return new LineSocket(socket, true, options.maxLineBytes ?? DEFAULT_MAX_LINE, options.transcript, socket.localAddress, socket.localPort);
  }

  /**
   * `host` is where the socket connects; `servername` only names what the certificate must prove
   * (and the SNI). Merging the two would let a pinned address plus a servername connect wherever
   * the name resolves. SNI must be a host name; an IP literal is still verified, by an explicit
   * identity check against the certificate's IP SANs.
   */
  static #clientTlsOptions(settings: TlsSettings, host: string): tls.ConnectionOptions {
    const name = settings.servername ?? host;
    return {
      ...(net.isIP(name) ? {} : { servername: name }),
      host,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert),
      rejectUnauthorized: settings.rejectUnauthorized ?? true,
      secureContext: clientContext(settings),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing.
  // ---------------------------------------------------------------------------------------------

  #attach(socket: net.Socket): void {
    const onData = (chunk: Buffer) => {
      this.onReceive?.(chunk);
      this.#append(chunk);
      // Bound memory: stop reading while more than a full line is waiting unread.
      if (this.#buffer.length - this.#start > this.#maxLine + 2 && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
      this.#signal();
    };
    const onEnd = () => {
      this.#eof = true;
      this.#signal();
    };
    const onError = (error: Error & { code?: string }) => {
      if (!this.#failure) {
        this.#failure =
          error instanceof TransportError ? error : new TransportError("closed", `The connection failed (${error.code ?? error.message}).`, { cause: error });
      }
      this.#signal();
    };
    const onClose = () => {
      this.#closed = true;
      this.#eof = true;
      this.#signal();
      this.#disarm();
      const onClosed = this.onClosed;
      if (onClosed !== undefined) {
        this.onClosed = undefined;
        onClosed(this.#failure ?? new TransportError("closed", "The connection was closed by the peer."));
      }
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("close", onClose);
    this.#detach = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("close", onClose);
    };
  }

  /**
   * Appends received bytes. Unread bytes that are a tail of `#store` grow in place while it has
   * room, so a line arriving in many packets is copied once per packet, not once per packet
   * with everything before it (Buffer.concat each time was quadratic in the line's length).
   * Bytes already handed out as views are never written over: only the room after them is used.
   */
  #append(chunk: Buffer): void {
    const buffer = this.#buffer;
    if (buffer.length === 0) {
      this.#buffer = chunk;
      this.#start = 0;
      return;
    }
    const store = this.#store;
    const end = buffer.byteOffset + buffer.length;
    if (store !== undefined && buffer.buffer === store.buffer && end === store.byteOffset + this.#storeUsed && store.length - this.#storeUsed >= chunk.length) {
      chunk.copy(store, this.#storeUsed);
      this.#storeUsed += chunk.length;
      this.#buffer = store.subarray(buffer.byteOffset - store.byteOffset, this.#storeUsed); // same start: #start holds
      return;
    }
    // A new store with the unread bytes only: what was read before #start is dropped here.
    const unread = buffer.length - this.#start;
    const size = unread + chunk.length;
    const next = Buffer.allocUnsafeSlow(Math.max(size + Math.min(size, 64 * 1024), 16 * 1024));
    buffer.copy(next, 0, this.#start);
    chunk.copy(next, unread);
    this.#store = next;
    this.#storeUsed = size;
    this.#buffer = next.subarray(0, size);
    this.#start = 0;
  }

  /** Marks the bytes before `to` (an index in `#buffer`) read; when nothing is left, the storage is let go (an idle connection holds none). */
  #consume(to: number): void {
    if (to === this.#buffer.length) {
      this.#buffer = EMPTY;
      this.#start = 0;
      this.#store = undefined;
    } else {
      this.#start = to;
    }
  }

  #watchSignal(signal: AbortSignal): void {
    const onAbort = () => this.destroy(new TransportError("aborted", "The connection was aborted by the caller.", { cause: signal.reason }));
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener("abort", onAbort, { once: true });
      this.#socket.once("close", () => signal.removeEventListener("abort", onAbort));
    }
  }

  #signal(): void {
    if (this.#waiters.length !== 0) this.#pump();
  }

  #resume(): void {
    if (this.#paused && this.#buffer.length - this.#start <= this.#maxLine + 2) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  #note(text: string): void {
    this.#transcript?.({ direction: "*", text });
  }

  get #readDirection(): "C" | "S" {
    return this.#isServer ? "C" : "S";
  }

  get #writeDirection(): "C" | "S" {
    return this.#isServer ? "S" : "C";
  }

  /**
   * Waits until `attempt` yields a value, the deadline passes, or the connection ends. Serialised.
   * Fast path: when no read is queued and the value is already buffered, no timer, closure chain
   * or wait is created (a pipelined burst of replies is read without touching the event loop).
   */
  #read<T>(deadline: Deadline, what: string, attempt: () => T | undefined, mapError?: (error: unknown) => unknown): Promise<T> {
    const head = this.#waiters.length === 0;
    if (head) {
      try {
        const value = attempt();
        if (value !== undefined) {
          this.#resume();
          return Promise.resolve(value);
        }
      } catch (error) {
        return Promise.reject(mapError ? mapError(error) : error);
      }
    }
    return new Promise<T>((resolve, reject) => {
      const w: Waiter = { deadline, what, attempt, resolve: resolve as (value: unknown) => void, reject, mapError };
      this.#waiters.push(w);
      // The head read just found nothing buffered: it waits at once, without a second attempt.
      if (head && !this.#pumping) this.#stall(w);
    });
  }

  /**
   * Serves waiting reads in order, each as far as it can: a value, the failure, EOF, or its
   * deadline (checked against the clock on every pass, so a dripping peer cannot extend it).
   * Runs on every data/end/error/close event and when the timer fires.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      const waiters = this.#waiters;
      while (waiters.length !== 0) {
        const w = waiters[0]!;
        let value: unknown;
        try {
          value = w.attempt();
        } catch (error) {
          this.#fail(w, error);
          continue;
        }
        if (value === undefined) {
          if (this.#stall(w)) continue;
          return;
        }
        this.#resume();
        waiters.shift();
        w.resolve(value);
      }
      const drained = this.#drained;
      this.#drained = undefined;
      if (drained) for (let i = 0; i < drained.length; i++) (drained[i] as () => void)();
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * The head read `w` found nothing to take: fails it on the connection's failure, EOF or its
   * deadline (true: the next read may be served), else arms the timer for its deadline (false).
   */
  #stall(w: Waiter): boolean {
    if (this.#failure) return this.#fail(w, this.#failure);
    if (this.#eof) return this.#fail(w, new TransportError("closed", `The connection was closed by the peer while waiting for ${w.what}.`));
    this.#resume();
    if (w.deadline.expired()) return this.#fail(w, new TransportError("timeout", `Timed out waiting for ${w.what}.`));
    this.#arm(w.deadline.at);
    return false;
  }

  /** Removes the head read `w` and rejects it with `error` (through its `mapError`). */
  #fail(w: Waiter, error: unknown): true {
    this.#waiters.shift();
    w.reject(w.mapError ? w.mapError(error) : error);
    return true;
  }

  /** Makes sure the timer fires no later than just after `at` (epoch ms). */
  #arm(at: number): void {
    const watch = this.#watch;
    if (watch !== undefined && watch.at <= at + 1) return;
    unwatchDeadline(watch);
    this.#watch = watchDeadline(at, this.#onTimer);
  }

  #disarm(): void {
    unwatchDeadline(this.#watch);
    this.#watch = undefined;
  }

  /** Resolves once every read issued so far has settled. */
  #readsSettled(): Promise<void> {
    if (this.#waiters.length === 0) return RESOLVED;
    return new Promise<void>((resolve) => (this.#drained ??= []).push(resolve));
  }

  // ---------------------------------------------------------------------------------------------
  // Reading.
  // ---------------------------------------------------------------------------------------------

  /**
   * The next line without its CRLF (a bare LF also ends a line), decoded as UTF-8. Rejects with
   * TransportError "timeout" at the deadline, "closed" on EOF (a partial last line is dropped),
   * and "line-too-long" as soon as the line exceeds `maxLineBytes` (the buffer never grows past
   * it). `mask` replaces the transcript text (server side: AUTH responses).
   */
  readLine(deadline: Deadline, options: { mask?: string } = {}): Promise<string> {
    return this.#read(deadline, "a line", () => this.#lineText(options.mask));
  }

  /**
   * Reads through a parser, for protocols whose unit is not a line (an SMTP reply of many lines,
   * a pipelined group of replies): `parse(next)` is called whenever data may have arrived, with
   * `next` returning the next complete buffered line (decoded as UTF-8 and put in the transcript,
   * like `readLine`) or undefined when none is; the read resolves with parse's first result other
   * than undefined. `parse` keeps its own state between calls (a line taken is gone) and may throw
   * to fail the read. A reply that arrives in one packet, or in many, costs one promise.
   *
   * Same serialisation (in call order with every other read), deadline, close and line-length
   * rules as `readLine`. `mapError`, when given, turns any failure (the parser's, a timeout, a
   * close) into the error the read rejects with; it is called once, synchronously.
   */
  readParsed<T>(deadline: Deadline, what: string, parse: (next: () => string | undefined) => T | undefined, mapError?: (error: unknown) => unknown): Promise<T> {
    return this.#read(deadline, what, () => parse(this.#nextLine), mapError);
  }

  /** `readParsed`'s line source. */
  readonly #nextLine = (): string | undefined => this.#lineText(undefined);

  /** The next buffered line as text, put in the transcript (as `mask` when given), or undefined. */
  #lineText(mask: string | undefined): string | undefined {
    const buffer = this.#buffer;
    const start = this.#start;
    const end = this.#nextLineEnd();
    if (end < 0) return undefined;
    const line = buffer.toString("utf8", start, end); // decoded in place: no Buffer view per line
    this.#transcript?.({ direction: this.#readDirection, text: mask ?? line });
    return line;
  }

  /**
   * The next line as raw bytes, without its CRLF (a bare LF also ends a line): 8-bit clean, for
   * message data whose bytes need not be UTF-8 (SMTP DATA). Same deadline, close and length
   * rules as `readLine`. The transcript gets the line decoded as UTF-8 (or `mask`), unless
   * `transcript: false` (message bodies). The returned Buffer is a copy the caller may keep;
   * `lastLineCrlf` then tells how it ended.
   */
  readLineBytes(deadline: Deadline, options: { mask?: string; transcript?: boolean } = {}): Promise<Buffer> {
    return this.#read(deadline, "a line", () => {
      const buffer = this.#buffer;
      const raw = this.#takeLine();
      if (raw === undefined) return undefined;
      // The byte after the line is its CR or its LF (#takeLine read `buffer` as it was).
      this.#lineBytesCrlf = buffer[raw.byteOffset - buffer.byteOffset + raw.length] === 0x0d;
      if (this.#transcript && options.transcript !== false) this.#transcript({ direction: this.#readDirection, text: options.mask ?? raw.toString("utf8") });
      return Buffer.from(raw);
    });
  }

  /**
   * Whether the line the last `readLineBytes` returned ended with CRLF (false: a bare LF). A
   * multi-line answer's end is CRLF "." CRLF only (RFC 1939 §3): a "." between bare LFs, which
   * a server passes through from a message's bytes, must not end it.
   */
  get lastLineCrlf(): boolean {
    return this.#lineBytesCrlf;
  }
  #lineBytesCrlf = true;

  /** Removes and returns the next complete line (a view, CRLF excluded), or undefined. Enforces the line limit. */
  #takeLine(): Buffer | undefined {
    const buffer = this.#buffer;
    const start = this.#start;
    const end = this.#nextLineEnd();
    return end < 0 ? undefined : buffer.subarray(start, end);
  }

  /**
   * Finds the next complete line and consumes it: returns where it ends in `#buffer` as it was
   * before (CR and LF excluded; the line starts at `#start` as it was before), or -1 when no line
   * is complete (nothing is consumed). Enforces the line limit.
   */
  #nextLineEnd(): number {
    const limit = this.#maxLine;
    const buffer = this.#buffer;
    const start = this.#start;
    const unread = buffer.length - start;
    const scan = Math.min(unread, limit + 2);
    const from = start + this.#scanned;
    const at = scan === unread ? buffer.indexOf(LF, from) : buffer.subarray(0, start + scan).indexOf(LF, from);
    if (at < 0) {
      if (unread > limit + 1) throw this.#tooLong();
      this.#scanned = scan;
      return -1;
    }
    this.#scanned = 0;
    let end = at;
    if (end > start && buffer[end - 1] === 0x0d) end--;
    if (end - start > limit) throw this.#tooLong();
    this.#consume(at + 1);
    return end;
  }

  #tooLong(): TransportError {
    const error = new TransportError("line-too-long", `The peer sent a line longer than ${this.#maxLine} bytes.`);
    this.destroy(error);
    return error;
  }

  /** Exactly `n` raw bytes (IMAP literals), with the same deadline and close rules as `readLine`. */
  readBytes(n: number, deadline: Deadline): Promise<Buffer> {
    let collected: Buffer[] = [];
    let have = 0;
    return this.#read(deadline, `${n} bytes`, () => {
      const start = this.#start;
      const unread = this.#buffer.length - start;
      if (unread) {
        const take = Math.min(n - have, unread);
        collected.push(this.#buffer.subarray(start, start + take));
        this.#consume(start + take);
        this.#scanned = 0;
        have += take;
      }
      if (have < n) return undefined;
      const out = Buffer.concat(collected);
      collected = [];
      this.#transcript?.({ direction: this.#readDirection, text: `{${n} bytes}` });
      return out;
    });
  }

  /** Bytes received but not yet read. */
  get buffered(): number {
    return this.#buffer.length - this.#start;
  }

  // ---------------------------------------------------------------------------------------------
  // Writing.
  // ---------------------------------------------------------------------------------------------

  /**
   * Writes `data`. Resolves once it is handed to the socket without exceeding its highWaterMark,
   * else after "drain" (backpressure). Rejects with "closed" when the connection is gone, with
   * "timeout" when `options.deadline` passes while waiting for drain.
   *
   * Writes issued in the same tick are coalesced: they are held and joined on
   * `process.nextTick` into one socket write (one syscall), so a pipelined group (a body, its
   * final dot and the next envelope, or the dot and QUIT) leaves in one segment. Order is
   * unchanged. Data that would reach the socket's highWaterMark is handed over at once, and the
   * socket's answer decides the backpressure wait, as with a direct write.
   */
  write(data: string | Uint8Array, options: WriteOptions = {}): Promise<void> {
    const refused = this.#unwritable();
    if (refused) return refused;
    const socket = this.#socket;
    if (this.#transcript && options.transcript !== false) this.#transcribe(data, options.mask);
    // Write errors surface as the socket's "error"/"close" events (recorded in #failure).
    if (this.#corked) return socket.write(data) ? RESOLVED : this.#drain(socket, options.deadline);
    this.#schedule(socket);
    this.#held.push(data);
    // A string's UTF-8 size is at most 3 bytes per UTF-16 unit: counting that bound (no scan of
    // the text) keeps what is held under the highWaterMark in bytes; it can only release early.
    this.#heldBytes += typeof data === "string" ? data.length * 3 : data.byteLength;
    if (socket.writableLength + this.#heldBytes < socket.writableHighWaterMark) return RESOLVED;
    return this.#release(socket) ? RESOLVED : this.#drain(socket, options.deadline);
  }

  /** Why nothing can be written now, as the rejection `write` and `writePieces` return; undefined when a write may go. */
  #unwritable(): Promise<never> | undefined {
    if (this.#failure && this.#failure.code !== "closed") return Promise.reject(this.#failure);
    const socket = this.#socket;
    if (this.#closed || socket.destroyed || socket.writableEnded) return Promise.reject(new TransportError("closed", "Cannot write: the connection is closed."));
    if (this.#upgrading) return Promise.reject(new TransportError("tls-failed", "Cannot write while the TLS upgrade is under way: nothing is sent in clear once STARTTLS is decided."));
    return undefined;
  }

  #transcribe(data: string | Uint8Array, mask: string | undefined): void {
    const transcript = this.#transcript!;
    if (mask !== undefined) {
      transcript({ direction: this.#writeDirection, text: mask });
      return;
    }
    const text = typeof data === "string" ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
    const lines = text.split(/\r?\n/);
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    for (const line of lines) transcript({ direction: this.#writeDirection, text: line });
  }

  /** Schedules this tick's flush (once per tick). */
  #schedule(socket: net.Socket): void {
    if (this.#tick === undefined) {
      this.#tick = socket;
      process.nextTick(this.#flush);
    }
  }

  /**
   * Writes what is held to `socket`: one item as it is; several joined into one string or one
   * buffer while small (a copy of a few KiB costs less than a writev); larger ones corked into one
   * writev without copying. Returns the socket's answer (false: wait for "drain").
   */
  #release(socket: net.Socket): boolean {
    const held = this.#held;
    const n = held.length;
    if (n === 0) return true;
    const bytes = this.#heldBytes;
    this.#heldBytes = 0;
    if (socket.destroyed) {
      held.length = 0; // gone with the socket, as corked data would be; reads report the close
      return true;
    }
    let ok: boolean;
    if (n === 1) ok = socket.write(held[0]!);
    else if (bytes <= JOIN_MAX) ok = socket.write(joinHeld(held));
    else {
      socket.cork();
      ok = true;
      for (const item of held) ok = socket.write(item);
      socket.uncork();
    }
    held.length = 0;
    return ok;
  }

  /**
   * Writes `pieces` in order, coalesced like `write` with whatever else this tick writes, with
   * one backpressure wait for all of them. For message bodies handed over as views of the
   * caller's buffers (dot-stuffing inserts a few bytes between them instead of copying), so
   * never in the transcript. Pieces that stay under the socket's highWaterMark are held and
   * joined with the tick's other writes (one copy of a few KiB, one syscall); larger ones are
   * never copied: the socket is corked for the rest of the tick and everything leaves as one
   * writev. The pieces must not change until written. (Added for the SMTP client's DATA/BDAT;
   * same rules as `write`.)
   */
  writePieces(pieces: readonly Uint8Array[], options: { deadline?: Deadline } = {}): Promise<void> {
    const refused = this.#unwritable();
    if (refused) return refused;
    const socket = this.#socket;
    if (!this.#corked) {
      let size = 0;
      for (let i = 0; i < pieces.length; i++) size += pieces[i]!.byteLength;
      if (socket.writableLength + this.#heldBytes + size < socket.writableHighWaterMark) {
        this.#schedule(socket);
        for (let i = 0; i < pieces.length; i++) this.#held.push(pieces[i]!);
        this.#heldBytes += size;
        return RESOLVED;
      }
      this.#schedule(socket);
      socket.cork();
      this.#corked = true;
      this.#release(socket); // what this tick wrote before goes first, into the same writev
    }
    let ok = true;
    for (let i = 0; i < pieces.length; i++) ok = socket.write(pieces[i]!);
    if (ok) return RESOLVED;
    return this.#drain(socket, options.deadline);
  }

  /** Waits for "drain" (or close, or the deadline). */
  #drain(socket: net.Socket, deadline: Deadline | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let watch: DeadlineWatch | undefined;
      const cleanup = () => {
        unwatchDeadline(watch);
        socket.off("drain", onDrain);
        socket.off("close", onClose);
      };
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(this.#failure ?? new TransportError("closed", "The connection closed while writing."));
      };
      socket.on("drain", onDrain);
      socket.on("close", onClose);
      if (deadline) {
        watch = watchDeadline(deadline.at, () => {
          cleanup();
          reject(new TransportError("timeout", "Timed out waiting for the peer to accept more data."));
        });
      }
    });
  }

  /** Writes `line` followed by CRLF. */
  writeLine(line: string, options: WriteOptions = {}): Promise<void> {
    return this.write(`${line}\r\n`, options.mask !== undefined || options.transcript === false ? options : { ...options, mask: line });
  }

  // ---------------------------------------------------------------------------------------------
  // TLS.
  // ---------------------------------------------------------------------------------------------

  #checkInjection(): void {
    // Anything already received after the go-ahead was sent in cleartext and would be read as if
    // it came over TLS (CVE-2011-0411): refuse.
    if (this.#buffer.length > this.#start || this.#socket.readableLength > 0) {
      const error = new TransportError("tls-injection", "The peer sent data after the STARTTLS go-ahead and before the TLS handshake; refusing (possible command injection).");
      this.destroy(error);
      throw error;
    }
  }

  /**
   * Client STARTTLS: upgrades this connection once the server said go ahead. Rejects with
   * "tls-injection" if the server sent bytes after its go-ahead, "tls-failed" on handshake or
   * verification failure, "timeout" at the deadline. Writes made before the call go out in clear
   * first; a write made after it, until the upgrade has ended, is refused ("tls-failed"): it
   * would go out in clear, inside the handshake.
   */
  startTls(settings: TlsSettings, deadline: Deadline): Promise<void> {
    return this.#upgrade(() => this.#startTls(settings, deadline));
  }

  /** Runs a TLS upgrade with writes refused from now until it ends (see `#unwritable`). */
  async #upgrade(run: () => Promise<void>): Promise<void> {
    this.#upgrading = true;
    try {
      await run();
    } finally {
      this.#upgrading = false;
    }
  }

  async #startTls(settings: TlsSettings, deadline: Deadline): Promise<void> {
    await this.#readsSettled();
    if (this.#tls) throw new TransportError("tls-failed", "TLS is already active on this connection.");
    this.#flush(); // the go-ahead (server) must leave in clear, before any handshake byte
    this.#checkInjection();
    let options: tls.ConnectionOptions;
    try {
      options = LineSocket.#clientTlsOptions(settings, this.#host ?? "localhost");
    } catch (error) {
      this.destroy(error as TransportError); // STARTTLS was decided: the connection does not go on in clear
      throw error;
    }
    const raw = this.#socket;
    this.#detach?.();
    const secure = tls.connect({ socket: raw, ...options });
    await this.#handshake(secure, "secureConnect", deadline);
  }

  /** Server-side STARTTLS (embedded server, test servers). Same error and write rules as `startTls`. */
  acceptTls(options: ServerTlsOptions, deadline: Deadline): Promise<void> {
    return this.#upgrade(() => this.#acceptTls(options, deadline));
  }

  async #acceptTls(options: ServerTlsOptions, deadline: Deadline): Promise<void> {
    await this.#readsSettled();
    if (this.#tls) throw new TransportError("tls-failed", "TLS is already active on this connection.");
    this.#flush(); // the go-ahead (server) must leave in clear, before any handshake byte
    this.#checkInjection();
    const raw = this.#socket;
    this.#detach?.();
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: tls.createSecureContext({
        key: options.key,
        cert: options.cert,
        minVersion: options.minVersion ?? "TLSv1.2",
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
      }),
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: false,
    });
    await this.#handshake(secure, "secure", deadline);
    if (options.requestCert && options.ca !== undefined) {
      const verdict = verifyClientCertificate(secure, options.ca);
      this.#externalIdentity = verdict && "identity" in verdict ? verdict.identity : undefined;
    }
  }

  async #handshake(secure: tls.TLSSocket, event: "secure" | "secureConnect", deadline: Deadline): Promise<void> {
    const raw = this.#socket;
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        unwatchDeadline(watch);
        secure.off(event, onReady);
        secure.off("error", onError);
        secure.off("close", onClose);
      };
      const fail = (error: TransportError) => {
        cleanup();
        // A failure recorded first (the caller's abort or destroy ended the handshake) is the cause.
        const failure = (this.#failure ??= error);
        secure.destroy();
        raw.destroy();
        reject(failure);
      };
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error) => fail(new TransportError("tls-failed", `The TLS handshake failed (${describeTls(error)}).`, { cause: error }));
      const onClose = () => fail(new TransportError("tls-failed", "The connection closed during the TLS handshake."));
      const watch = watchDeadline(deadline.at, () => fail(new TransportError("timeout", "Timed out during the TLS handshake.")));
      secure.once(event, onReady);
      secure.once("error", onError);
      secure.once("close", onClose);
    });
    this.#socket = secure;
    this.#tls = secure;
    this.#binding = undefined;
    this.#eof = false;
    secure.setNoDelay(true);
    this.#attach(secure);
    this.#note(`TLS established (${secure.getProtocol() ?? "unknown version"})`);
  }

  // ---------------------------------------------------------------------------------------------
  // Channel.
  // ---------------------------------------------------------------------------------------------

  /** True once TLS is active (implicit or upgraded). */
  get secure(): boolean {
    return this.#tls !== undefined;
  }

  /** True when the peer is on a loopback address. */
  get loopback(): boolean {
    // The peer's address never changes (STARTTLS keeps the TCP connection): looked up once.
    return (this.#loopback ??= isLoopbackAddress(this.remoteAddress));
  }
  #loopback: boolean | undefined;

  get remoteAddress(): string | undefined {
    // A client that connected to an IPv4 literal knows its peer without a getpeername call (the
    // literal is already canonical: Node's isIPv4 takes no leading zeros).
    if (!this.#isServer && this.#host !== undefined && isIPv4(this.#host)) return this.#host;
    return this.#socket.remoteAddress;
  }

  /** Our own address on this connection (SMTP uses it for an address-literal EHLO name). */
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.#tls;
  }

  /** `text` with every secret this connection knows masked: for server text that enters an error. */
  redact(text: string): string {
    return this.redactor.redact(text);
  }

  /**
   * The core `ChannelInfo` for this connection. `host`/`port` default to those given to
   * `connect`. Channel binding: tls-exporter (TLS 1.3), tls-server-end-point (RFC 5929 hash
   * rules), tls-unique (TLS 1.2). Server side only: `localAddress`, the address the client
   * connected to (`host` is then the server's name, when given), and `externalIdentity`, the
   * verified client certificate's CN.
   */
  channelInfo(host?: string, port?: number): ChannelInfo {
    const h = host ?? this.#host;
    const p = port ?? this.#port;
    // Built by assignment, not conditional spreads: every authentication asks for it.
    const info: { -readonly [K in keyof ChannelInfo]: ChannelInfo[K] } = { secure: this.#tls !== undefined, loopback: this.loopback };
    if (h !== undefined) info.host = h;
    if (p !== undefined) info.port = p;
    if (this.#isServer && this.#host !== undefined) info.localAddress = this.#host;
    if (this.#tls) info.channelBinding = this.#binding ??= channelBindingFor(this.#tls, this.#isServer);
    if (this.#externalIdentity !== undefined) info.externalIdentity = this.#externalIdentity;
    return info;
  }

  // ---------------------------------------------------------------------------------------------
  // Closing.
  // ---------------------------------------------------------------------------------------------

  /** True once the socket has closed. */
  get closed(): boolean {
    return this.#closed || this.#socket.destroyed;
  }

  /**
   * True once nothing more can be read: the peer ended its side (or the connection failed or
   * closed). A line protocol's session is over then, even while this side could still write.
   */
  get ended(): boolean {
    return this.#eof || this.#failure !== undefined || this.closed;
  }

  /** Ends the socket (sends FIN) and resolves once it has closed; destroys it after a bounded wait. */
  close(): Promise<void> {
    const socket = this.#socket;
    if (this.closed) return Promise.resolve();
    this.#flush();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), CLOSE_WAIT_MS);
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
      // We will read nothing more; let pending data drain so the peer's FIN arrives.
      socket.resume();
    });
  }

  /** Destroys the socket at once. Pending and later reads reject with `error` (default "closed"). */
  destroy(error?: Error): void {
    if (!this.#failure) {
      this.#failure =
        error instanceof TransportError
          ? error
          : new TransportError("closed", error ? `The connection was destroyed (${error.message}).` : "The connection was closed locally.", error ? { cause: error } : undefined);
    }
    this.#flush(); // what was written before destroy() still goes out, as with an uncorked socket
    this.#socket.destroy();
    this.#signal();
    this.#disarm();
  }
}
