/**
 * Where the bytes of one message go while it arrives: a `Readable` handed to the application
 * (nodemailer smtp-server's `onData` model) and, when the store is on, a compact copy. Memory is
 * the message's bytes (in blocks of at least 64 KiB, never an object per line or per TCP segment)
 * plus the stream's highWaterMark; the size limit is counted on the decoded bytes.
 */
import { Readable } from "node:stream";
import { Deadline, TransportError } from "@saslkit/transport";

const BLOCK = 64 * 1024;

/** Error the message stream fails with when the client exceeds `maxMessageBytes`. */
export class MessageTooLargeError extends Error {
  readonly code = "size-exceeded";
  constructor(limit: number) {
    super(`The message exceeds the server's limit of ${limit} bytes.`);
    this.name = "MessageTooLargeError";
  }
}

/** Error the message stream fails with when the transfer ends without the message's end. */
export class MessageAbortedError extends Error {
  readonly code = "aborted";
  constructor(reason: string) {
    super(`The message transfer was aborted (${reason}).`);
    this.name = "MessageAbortedError";
  }
}

/** Collects bytes into blocks: a dripping client (one byte per segment) still costs its bytes only. */
class Blocks {
  readonly #blocks: Buffer[] = [];
  #current: Buffer | undefined;
  #used = 0;
  length = 0;

  append(data: Buffer): void {
    let from = 0;
    while (from < data.length) {
      if (!this.#current || this.#used === this.#current.length) {
        if (this.#current) this.#blocks.push(this.#current);
        this.#current = Buffer.allocUnsafe(Math.max(BLOCK, Math.min(data.length - from, 1024 * 1024)));
        this.#used = 0;
      }
      const n = Math.min(data.length - from, this.#current.length - this.#used);
      data.copy(this.#current, this.#used, from, from + n);
      this.#used += n;
      from += n;
    }
    this.length += data.length;
  }

  /** One Buffer holding every byte (the blocks are released). */
  take(): Buffer {
    const parts = [...this.#blocks];
    if (this.#current) parts.push(this.#current.subarray(0, this.#used));
    this.#blocks.length = 0;
    this.#current = undefined;
    return parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, this.length);
  }
}

export interface SinkOptions {
  readonly limit: number;
  /** Keep a copy for the server's store. */
  readonly keep: boolean;
  /** Stream the message to this handler. */
  readonly handler: ((stream: Readable) => void | Promise<void>) | undefined;
}

/** The outcome once the whole message arrived. */
export type SinkOutcome =
  | { readonly type: "accepted"; readonly data: Buffer | undefined; readonly size: number }
  | { readonly type: "too-large"; readonly size: number }
  | { readonly type: "handler-failed"; readonly error: unknown; readonly size: number };

export class MessageSink {
  #size = 0;
  #tooLarge = false;
  readonly #blocks: Blocks | undefined;
  readonly #stream: Readable | undefined;
  /** Resolves the write waiting for the consumer to read. */
  #wake: (() => void) | undefined;
  /** The stream no longer receives data (the handler finished or failed, or the stream is gone). */
  #detached = false;
  #handled: Promise<{ ok: true } | { ok: false; error: unknown }> | undefined;

  constructor(private readonly options: SinkOptions) {
    this.#blocks = options.keep ? new Blocks() : undefined;
    if (options.handler) {
      const stream = new Readable({ read: () => this.#wakeUp() });
      // The server destroys the stream with an error on overflow or abort; the application may
      // not listen for it, and an unheard 'error' would crash the process.
      stream.on("error", () => undefined);
      stream.on("close", () => {
        this.#detached = true;
        this.#wakeUp();
      });
      this.#stream = stream;
      const handler = options.handler;
      this.#handled = (async () => handler(stream))().then(
        () => ({ ok: true as const }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      // Once the handler has settled, whatever it did not read is dropped, never waited for.
      void this.#handled.then(() => {
        this.#detached = true;
        this.#wakeUp();
      });
    }
  }

  get size(): number {
    return this.#size;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Adds decoded bytes. Waits (up to `deadline`) while the application's stream is full. */
  async write(data: Buffer, deadline: Deadline): Promise<void> {
    if (data.length === 0) return;
    this.#size += data.length;
    if (this.#tooLarge) return;
    if (this.#size > this.options.limit) {
      this.#tooLarge = true;
      this.#stream?.destroy(new MessageTooLargeError(this.options.limit));
      this.#detached = true;
      return;
    }
    this.#blocks?.append(data);
    const stream = this.#stream;
    if (!stream || this.#detached) return;
    if (stream.push(data)) return;
    // Backpressure: wait for the consumer (or its end), never past the transfer's deadline.
    await new Promise<void>((resolve, reject) => {
      const cancel = deadline.onExpiry(() => {
        this.#wake = undefined;
        reject(new TransportError("timeout", "Timed out waiting for the application to read the message."));
      });
      this.#wake = () => {
        cancel();
        resolve();
      };
      if (this.#detached) this.#wakeUp();
    });
  }

  /** The whole message arrived: ends the stream and waits for the handler (up to `deadline`). */
  async end(deadline: Deadline): Promise<SinkOutcome> {
    if (this.#tooLarge) return { type: "too-large", size: this.#size };
    if (this.#stream && !this.#detached) this.#stream.push(null);
    const handled = this.#handled ? await deadline.bound(this.#handled, () => new TransportError("timeout", "Timed out waiting for the application to take the message.")) : { ok: true as const };
    if (!handled.ok) return { type: "handler-failed", error: handled.error, size: this.#size };
    return { type: "accepted", data: this.#blocks?.take(), size: this.#size };
  }

  /** The transfer failed (timeout, connection lost, protocol violation): the stream errors. */
  abort(reason: string): void {
    this.#detached = true;
    this.#stream?.destroy(new MessageAbortedError(reason));
    this.#wakeUp();
  }

  /** Refuses the message after it arrived (bare newlines in reject mode): the stream errors. */
  reject(reason: string): void {
    this.abort(reason);
  }
}

