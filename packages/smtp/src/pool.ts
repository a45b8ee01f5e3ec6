/**
 * A pool of authenticated SMTP connections for applications that send continuously.
 *
 * `createPool(options)` (or `new SmtpPool(options)`) connects lazily: messages given to
 * `pool.send` wait in one queue and go out over at most `maxConnections` connections, each
 * pipelining a few at a time (see `windowFor`); a new connection opens when the others are busy.
 * A connection is retired (QUIT) after `maxMessagesPerConnection` messages, and one that drops or
 * receives a 421 is replaced, with a growing pause between failed connection attempts (a link
 * that ended before the server answered anything on it is one of those).
 *
 * Delivery rule: a message is retried on another connection only when it certainly did not
 * reach the server (the failure came before its final dot: a dropped link, a timeout, or a 421,
 * "service closing"). A failure after the final dot is `outcome-unknown` (the server may have
 * accepted it) and is reported, never retried; so no message is sent twice by the pool, and none
 * is lost silently: every `send` settles with a result or an error.
 *
 * A server that goes down drops every link at once, but the client may read those closes one
 * link at a time: a message sent again at once can meet pooled links that are already dead. A try
 * that fails on a link which was open when the message's last counted try failed, and which has
 * answered nothing since (a 421 aside), died in that same event: it does not count against
 * `maxAttempts`. Each link fails a message at most once (it is retired), so at most
 * `maxConnections - 1` such tries follow a counted one: a message that kills every link it
 * touches is still given up.
 *
 * `close()` takes no new messages, waits until every queued and in-flight one has settled, then
 * QUITs every connection.
 */
import { Readable } from "node:stream";
import { SmtpClient } from "./client.js";
import { ANSWERS } from "./pipeline.js";
import { TransportError, timerDelay } from "@saslkit/transport";
import { SmtpError } from "./errors.js";
import type { Envelope, Message } from "./message.js";
import { windowFor } from "./many.js";
import { checkPoolOptions, type SmtpClientOptions } from "./options.js";
import type { SendResult } from "./transaction.js";

export interface SmtpPoolOptions {
  /** How every connection is made (host, port, tls, auth, mechanisms, timeouts, ...). */
  readonly connection: SmtpClientOptions;
  /** Most connections open at once. Default 5. */
  readonly maxConnections?: number;
  /** Messages sent over one connection before it is replaced (QUIT, then a fresh one). Default 100. */
  readonly maxMessagesPerConnection?: number;
  /** At most `messages` messages started per `perMs` milliseconds, over the whole pool. Default: no limit. */
  readonly rateLimit?: { readonly messages: number; readonly perMs: number };
  /**
   * How often one message is tried when it certainly did not reach the server. Default 3. A try
   * on a link that died in the same event as the message's last counted try (open then, nothing
   * answered since) does not count; see the module note.
   */
  readonly maxAttempts?: number;
  /**
   * Failed connection attempts in a row (with pauses of 100 ms, 200 ms, ... up to 5 s) after
   * which every waiting message fails with the last connection error. Default 6 (about 3 s).
   * Attempts made at the same time (a busy pool opening several connections) count as one.
   * A link that ends before the server answered any message on it (a 421 to every MAIL) counts
   * as a failed attempt; a message answered on a link ends the run. A refusal that retrying
   * cannot cure (a 5xx reply such as 535 to AUTH) fails them at once. After giving up, the next
   * attempt waits the longest pause (5 s).
   */
  readonly maxConnectFailures?: number;
  /**
   * Most bytes of messages waiting for a connection; a `send` past it is refused at once with
   * `queue-full` (nothing was sent: send it again once the queue has room, see `stats`). A
   * message in memory counts its size in bytes; a stream or a message to compose counts
   * `QUEUED_STREAM_BYTES` (what the pool can tell without reading it). Messages handed to a
   * connection no longer count. Default 128 MiB; a number of your own, however large, to raise it.
   */
  readonly maxQueuedBytes?: number;
}

/** What a queued stream or message to compose counts against `maxQueuedBytes`: 64 KiB. */
export const QUEUED_STREAM_BYTES = 64 * 1024;

/** What the pool is doing, for monitoring. */
export interface SmtpPoolStats {
  /** Connections open, opening or closing (never more than maxConnections). */
  readonly connections: number;
  /** Messages waiting for a connection. */
  readonly queued: number;
  /** What those messages count against `maxQueuedBytes`. */
  readonly queuedBytes: number;
  /** Messages written or being written, final reply not yet in. */
  readonly inFlight: number;
  readonly sent: number;
  readonly failed: number;
  /** Messages sent again after a failure before their final dot. */
  readonly retried: number;
  /** Connections opened over the pool's life. */
  readonly connectionsOpened: number;
}

interface Job {
  readonly message: Message;
  /** What it counts against maxQueuedBytes while queued. */
  readonly bytes: number;
  readonly envelope: Envelope | undefined;
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: unknown) => void;
  /** Counted tries (started ones included). */
  attempts: number;
  /**
   * The links that could take it when its last counted try failed, each with its `ANSWERS`
   * reading then: a later try that fails on one of them, answered nothing since, does not count.
   */
  stale: Map<SmtpClient, number> | undefined;
}

interface Slot {
  client: SmtpClient | undefined;
  /** Sends in flight on this connection. */
  inFlight: number;
  /** Messages handed to this connection. */
  used: number;
  /** No more messages: QUIT once `inFlight` reaches 0. */
  retiring: boolean;
  /** The server answered a message here (accepted or refused it): the link works. */
  proven: boolean;
}

/** Failures after which the connection is unusable but the message never reached the server. */
function retryable(error: unknown): boolean {
  if (!(error instanceof SmtpError)) return false;
  if (error.code === "outcome-unknown") return false;
  if (error.reply?.code === 421) return true; // "service not available, closing transmission channel"
  // (A failure after the final dot is "outcome-unknown", never one of these.)
  return error.code === "closed" || error.code === "timeout" || error.code === "connect-failed";
}

/**
 * A connection failure that trying again will not cure: the server refused with a 5xx reply
 * (535 to AUTH, a 554 greeting, 530 "encryption required") or the client refused to go on
 * (no common mechanism, TLS required). Transport failures and 4xx replies are transient.
 */
function permanent(error: unknown): boolean {
  if (!(error instanceof SmtpError)) return false;
  if (error.reply) return error.reply.code >= 500;
  return !(error.cause instanceof TransportError) && !TRANSIENT.has(error.code);
}
const TRANSIENT = new Set<string>(["connect-failed", "timeout", "closed", "line-too-long", "tls-failed", "aborted", "tls-injection", "malformed-reply", "temporary-failure", "protocol-error"]);

/** A stream can be sent again only if nothing was read from it yet. */
function resendable(message: Message): boolean {
  return !(message instanceof Readable) || (!message.readableDidRead && !message.destroyed);
}

const MAX_PAUSE_MS = 5000;

/** A bounded set of authenticated connections sharing one queue of messages. */
export class SmtpPool {
  readonly #options: SmtpClientOptions;
  readonly #maxConnections: number;
  readonly #maxMessages: number;
  readonly #maxAttempts: number;
  readonly #maxConnectFailures: number;
  readonly #rate: { readonly messages: number; readonly perMs: number } | undefined;
  readonly #queue: Job[] = [];
  readonly #maxQueuedBytes: number;
  #queuedBytes = 0;
  readonly #slots = new Set<Slot>();
  /** Start times of recent messages, for the rate limit (oldest first). */
  readonly #started: number[] = [];
  #connecting = 0;
  /** QUITs under way: those connections still count against maxConnections until closed. */
  readonly #quits = new Set<Promise<void>>();
  #connectFailures = 0;
  #pauseTimer: NodeJS.Timeout | undefined;
  #rateTimer: NodeJS.Timeout | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;
  #drainedResolve: (() => void) | undefined;
  #stats = { sent: 0, failed: 0, retried: 0, connectionsOpened: 0 };

  constructor(options: SmtpPoolOptions) {
    checkPoolOptions(options);
    this.#options = options.connection;
    this.#maxConnections = positive(options.maxConnections ?? 5, "maxConnections");
    this.#maxMessages = positive(options.maxMessagesPerConnection ?? 100, "maxMessagesPerConnection");
    this.#maxAttempts = positive(options.maxAttempts ?? 3, "maxAttempts");
    this.#maxConnectFailures = positive(options.maxConnectFailures ?? 6, "maxConnectFailures");
    this.#maxQueuedBytes = positive(options.maxQueuedBytes ?? 128 * 1024 * 1024, "maxQueuedBytes");
    if (options.rateLimit) {
      positive(options.rateLimit.messages, "rateLimit.messages");
      positive(options.rateLimit.perMs, "rateLimit.perMs");
      this.#rate = options.rateLimit;
    }
  }

  get stats(): SmtpPoolStats {
    let inFlight = 0;
    for (const s of this.#slots) inFlight += s.inFlight;
    return { connections: this.#slots.size + this.#connecting + this.#quits.size, queued: this.#queue.length, queuedBytes: this.#queuedBytes, inFlight, ...this.#stats };
  }

  /**
   * Queues one message; resolves with its result once the server accepted it, rejects with the
   * `SmtpError` that ended it (`outcome-unknown`: the server may have it; see the module note).
   * A message that would take the queue past `maxQueuedBytes` is refused at once (`queue-full`).
   */
  send(message: Message, envelope?: Envelope): Promise<SendResult> {
    if (this.#closing) return Promise.reject(new SmtpError("mail", "client-closed", "the pool is closed."));
    const bytes = queuedSize(message);
    // One message larger than the whole bound still goes when nothing else waits.
    if (this.#queue.length !== 0 && this.#queuedBytes + bytes > this.#maxQueuedBytes) return Promise.reject(this.#full(bytes));
    return new Promise<SendResult>((resolve, reject) => {
      this.#enqueue({ message, bytes, envelope, resolve, reject, attempts: 0, stale: undefined }, false);
      this.#dispatch();
    });
  }

  /** Takes no new messages, waits for every queued and in-flight one, then QUITs every connection. */
  close(): Promise<void> {
    this.#closing = true;
    this.#closed ??= new Promise<void>((resolve) => {
      this.#drainedResolve = resolve;
    }).then(() => this.#quitAll());
    this.#dispatch();
    return this.#closed;
  }

  // ---------------------------------------------------------------------------------------------

  #full(bytes: number): SmtpError {
    return new SmtpError("mail", "queue-full", `the pool's queue holds ${this.#queuedBytes} bytes of messages waiting for a connection; this message (${bytes}) would take it past maxQueuedBytes (${this.#maxQueuedBytes}). Nothing was sent: send it again once the queue has room (pool.stats.queuedBytes).`);
  }

  /** Queues `job` at the end, or at the head (`first`: a message sent again after a failure). */
  #enqueue(job: Job, first: boolean): void {
    this.#queuedBytes += job.bytes;
    if (first) this.#queue.unshift(job);
    else this.#queue.push(job);
  }

  /** Takes the queue's head. */
  #dequeue(): Job {
    const job = this.#queue.shift()!;
    this.#queuedBytes -= job.bytes;
    return job;
  }

  /** Hands queued messages to connections with room, opening connections as needed. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (!slot.client || slot.client.closed) {
        if (slot.inFlight === 0) this.#slots.delete(slot);
        continue;
      }
      const window = windowFor(slot.client.pipelining);
      while (this.#queue.length && !slot.retiring && slot.inFlight < window && slot.used < this.#maxMessages) {
        if (!this.#rateAllows()) break;
        this.#start(slot, this.#dequeue());
      }
      if (slot.used >= this.#maxMessages) slot.retiring = true;
      if (slot.retiring && slot.inFlight === 0) this.#retire(slot);
    }
    // Open more connections while messages wait that the open ones have no room for (each
    // connection in the making counts for one window of them), up to maxConnections. After a
    // failed attempt only one connection is tried at a time, after the pause.
    if (this.#queue.length && this.#pauseTimer === undefined && this.#rateTimer === undefined) {
      let room = 0;
      for (const s of this.#slots) if (s.client && !s.client.closed && !s.retiring) room += Math.max(0, windowFor(s.client.pipelining) - s.inFlight);
      let waiting = this.#queue.length - room - this.#connecting * windowFor("full");
      const limit = this.#connectFailures > 0 ? 1 : this.#maxConnections;
      while (waiting > 0 && this.#slots.size + this.#connecting + this.#quits.size < this.#maxConnections && this.#connecting < limit) {
        this.#connect();
        waiting -= windowFor("full");
      }
    }
    this.#checkDrained();
  }

  #rateAllows(): boolean {
    const rate = this.#rate;
    if (!rate) return true;
    const now = Date.now();
    while (this.#started.length && this.#started[0]! <= now - rate.perMs) this.#started.shift();
    if (this.#started.length < rate.messages) {
      this.#started.push(now);
      return true;
    }
    if (this.#rateTimer === undefined) {
      // Clamped (setTimeout fires at once past 2^31 ms); an early wake-up re-checks and re-arms.
      this.#rateTimer = setTimeout(() => {
        this.#rateTimer = undefined;
        this.#dispatch();
      }, timerDelay(this.#started[0]! + rate.perMs - now + 1));
    }
    return false;
  }

  #start(slot: Slot, job: Job): void {
    const client = slot.client!;
    slot.inFlight++;
    slot.used++;
    job.attempts++;
    client.send(job.message, job.envelope).then(
      (result) => {
        slot.inFlight--;
        if (!slot.proven) this.#proven(slot);
        this.#stats.sent++;
        job.resolve(result);
        this.#dispatch();
      },
      (error: unknown) => {
        slot.inFlight--;
        if (retryable(error)) {
          // The link is gone (or closing, 421): this connection takes nothing more. It is not
          // closed here: messages behind this one settle on their own (a reply already on its
          // way must not be cut off), and QUIT follows once none is in flight.
          slot.retiring = true;
          if (job.stale?.get(client) === client[ANSWERS]) job.attempts--; // died in the event that failed it last
          else job.stale = this.#openLinks();
          if (job.attempts < this.#maxAttempts && resendable(job.message)) {
            this.#stats.retried++;
            this.#enqueue(job, true); // it certainly did not reach the server: send it again, first
          } else this.#fail(job, error);
          // A link that ends before the server answered any message on it (a 421 to every MAIL
          // from a rate-limited account) is a failed connection attempt: pause before the next,
          // or every message would cost maxAttempts logins at once.
          if (!slot.proven) this.#attemptFailed(error);
          // Not at once: when the server went away, its other links' closes are usually read in
          // this same turn of the event loop; after it, only live connections (or a new one)
          // take the message. (A close read later costs a try that does not count, see above.)
          this.#dispatchAfterTurn();
          return;
        }
        if (!slot.proven && error instanceof SmtpError && error.reply) this.#proven(slot);
        this.#fail(job, error);
        this.#dispatch();
      },
    );
  }

  /** The links that can take a message now, each with its `ANSWERS` reading. */
  #openLinks(): Map<SmtpClient, number> {
    const links = new Map<SmtpClient, number>();
    for (const s of this.#slots) if (s.client && !s.client.closed && !s.retiring) links.set(s.client, s.client[ANSWERS]);
    return links;
  }

  #deferred: NodeJS.Immediate | undefined;
  #dispatchAfterTurn(): void {
    this.#deferred ??= setImmediate(() => {
      this.#deferred = undefined;
      this.#dispatch();
    });
  }

  #fail(job: Job, error: unknown): void {
    this.#stats.failed++;
    job.reject(error);
  }

  #connect(): void {
    this.#connecting++;
    this.#stats.connectionsOpened++;
    SmtpClient.connect(this.#options).then(
      (client) => {
        this.#connecting--;
        this.#slots.add({ client, inFlight: 0, used: 0, retiring: false, proven: false });
        this.#dispatch();
      },
      (error: unknown) => {
        this.#connecting--;
        // Attempts opened together fail together (a server that went down refuses them all):
        // one failure in a row, one pause. Only the first of them counts and sets the pause.
        if (this.#pauseTimer !== undefined) this.#dispatch();
        else this.#attemptFailed(error);
      },
    );
  }

  /** A link works: failed attempts in a row start again from zero. */
  #proven(slot: Slot): void {
    slot.proven = true;
    this.#connectFailures = 0;
  }

  /**
   * A connection attempt failed (or a link ended before the server answered anything on it):
   * pause, 100 ms doubling up to 5 s, before the next one. Past maxConnectFailures in a row, or
   * at once for a refusal that retrying cannot cure, fail what waits when no link can take it.
   */
  #attemptFailed(error: unknown): void {
    if (this.#pauseTimer !== undefined) return; // failures together count as one
    this.#connectFailures++;
    let anyOpen = false;
    for (const s of this.#slots) if (s.client && !s.client.closed && !s.retiring) anyOpen = true;
    let pause = Math.min(MAX_PAUSE_MS, 100 * 2 ** (this.#connectFailures - 1));
    if ((this.#connectFailures >= this.#maxConnectFailures || permanent(error)) && !anyOpen) {
      // The server stays unreachable, or refused for good (a 535 to AUTH): fail what waits
      // (none of it was sent). The failures are not reset and the next attempt waits the
      // longest pause, so an application that keeps sending meets one attempt per pause, not
      // a storm of them (repeated AUTH failures lock accounts and trip fail2ban).
      this.#connectFailures = Math.max(this.#connectFailures, this.#maxConnectFailures);
      pause = MAX_PAUSE_MS;
      this.#queuedBytes = 0;
      for (const job of this.#queue.splice(0)) this.#fail(job, error);
    }
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#dispatch();
    }, pause);
    this.#checkDrained(); // closing with nothing left to send: no need to sit out the pause
  }

  #retire(slot: Slot): void {
    this.#slots.delete(slot);
    const client = slot.client;
    slot.client = undefined;
    if (client && !client.closed) this.#quit(client);
  }

  /** QUIT, counted until the connection is closed; then look at the queue again. */
  #quit(client: SmtpClient): Promise<void> {
    const done: Promise<void> = client
      .quit()
      .catch(() => undefined)
      .then(() => {
        this.#quits.delete(done);
        this.#dispatch();
      });
    this.#quits.add(done);
    return done;
  }

  #checkDrained(): void {
    if (!this.#closing || !this.#drainedResolve) return;
    if (this.#queue.length || this.#connecting) return;
    for (const s of this.#slots) if (s.inFlight) return;
    const resolve = this.#drainedResolve;
    this.#drainedResolve = undefined;
    resolve();
  }

  async #quitAll(): Promise<void> {
    if (this.#pauseTimer) clearTimeout(this.#pauseTimer);
    if (this.#rateTimer) clearTimeout(this.#rateTimer);
    for (const s of this.#slots) if (s.client && !s.client.closed) this.#quit(s.client);
    this.#slots.clear();
    await Promise.all([...this.#quits]);
  }
}

/** What `message` counts against maxQueuedBytes: its size in bytes when in memory. */
function queuedSize(message: Message): number {
  if (typeof message === "string") return Buffer.byteLength(message);
  if (message instanceof Uint8Array) return message.byteLength;
  return QUEUED_STREAM_BYTES;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new SmtpError("connect", "invalid-option", `The pool option "${name}" must be a positive integer, got ${String(value)}.`, { option: name });
  return value;
}

/** A pool of authenticated connections; see `SmtpPool`. */
export function createPool(options: SmtpPoolOptions): SmtpPool {
  return new SmtpPool(options);
}
