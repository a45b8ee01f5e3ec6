/**
 * Many messages over one connection without tuning: `SmtpClient.sendMany(messages)` takes an
 * iterable or async iterable of messages, keeps a window of sends in flight that it chooses from
 * the connection's PIPELINING mode (so the next message's MAIL/RCPT/DATA ride with the previous
 * final dot: one round trip per message), and yields one outcome per message, in order.
 */
import { SmtpError } from "./errors.js";
import type { Envelope, Message } from "./message.js";
import type { PipeliningMode } from "./options.js";
import type { Outcome, SendResult } from "./transaction.js";

/** One message for `sendMany`: the message and, unless its headers name them, its envelope. */
export interface OutgoingMessage {
  readonly message: Message;
  readonly envelope?: Envelope;
}

/** The outcome of one message of `sendMany`; `index` counts from 0 in the order taken. */
export type SendOutcome =
  | { readonly ok: true; readonly index: number; readonly item: OutgoingMessage; readonly result: SendResult }
  | {
      readonly ok: false;
      readonly index: number;
      readonly item: OutgoingMessage;
      /**
       * Why it failed, as `send` would reject: `outcome-unknown` means the connection ended after
       * the final dot, so the server MAY have accepted it (never resent here); a refusal carries
       * the reply; a message queued behind a broken connection fails with that connection's error
       * and was not sent.
       */
      readonly error: SmtpError;
    };

export interface SendManyOptions {
  /**
   * Most messages in flight on the connection, a number from 1 (anything else is refused with
   * `invalid-option` by the first `next`). Default: chosen from the PIPELINING mode in effect
   * (see `windowFor`); an explicit value is for experiments, not needed for speed.
   */
  readonly window?: number;
}

/** The client's entry for `sendMany`: queues one message, whose outcome goes to the given `Outcome`. */
export const SUBMIT: unique symbol = Symbol("submit");

/** What `sendMany` needs from a client. */
export interface ManySender {
  [SUBMIT](message: Message, envelope: Envelope | undefined, outcome: Outcome): void;
  readonly pipelining: PipeliningMode;
  readonly closed: boolean;
}

/**
 * The window for a PIPELINING mode. "full": enough that the next message is always queued when
 * the previous final dot is written, so it rides in the same write; client CPU per message
 * against the harness's sink fell from 30 us (1 in flight) to 26 (2), 25 (4), 24 (8) and 23 (16),
 * so 8, keeping few bodies referenced at once. "transaction": 2 (the next group is ready when the
 * final reply comes). "off": 1.
 */
export function windowFor(mode: PipeliningMode): number {
  return mode === "full" ? 8 : mode === "transaction" ? 2 : 1;
}

/**
 * Sends `messages` over `client`, at most `window` in flight, and yields each outcome in order.
 * A failed message does not stop the others; once the connection is closed or broken no further
 * message is taken from `messages`, and the iterator is left open: whatever it still holds was not
 * sent and can go out over another connection. Breaking out of the loop closes the iterator (as
 * for-of does) and takes no more messages; those already in flight still complete. A source that
 * throws (or rejects) is closed and nothing more is taken; the messages taken before it failed
 * still get their outcomes, in order, and the error comes after them.
 *
 * It behaves as an async generator would (nothing is taken before the first `next`, calls run
 * one at a time, `return` and `throw` close the source), written out by hand: a generator costs
 * several promises per message on top of the send itself, this one costs one.
 */
export function sendEach(
  client: ManySender,
  messages: Iterable<OutgoingMessage> | AsyncIterable<OutgoingMessage>,
  options: SendManyOptions = {},
): AsyncGenerator<SendOutcome, void, undefined> {
  return new ManySends(client, messages, options);
}

type Step = IteratorResult<SendOutcome, void>;
const DONE: Step = Object.freeze({ done: true, value: undefined });

/** A message in flight, or a call still running: its step, and whether it has settled. */
interface Pending {
  promise: Promise<Step>;
  settled: boolean;
}

/** `sendEach`'s iterator. */
class ManySends implements AsyncGenerator<SendOutcome, void, undefined> {
  readonly #client: ManySender;
  readonly #messages: Iterable<OutgoingMessage> | AsyncIterable<OutgoingMessage>;
  readonly #options: SendManyOptions;
  /** "new" until the first call (nothing taken yet), "done" once no more outcomes come. */
  #state: "new" | "open" | "done" = "new";
  #iterator: Iterator<OutgoingMessage> | AsyncIterator<OutgoingMessage> | undefined;
  #async = false;
  #window = 1;
  /** The source has no more messages. */
  #exhausted = false;
  /** The source failed while messages were in flight: its error comes once their outcomes are out. */
  #failure: { readonly error: unknown } | undefined;
  readonly #inFlight: Pending[] = [];
  #index = 0;
  /** What the latest call returned: a later call runs once it has settled (calls run one at a time, in order). */
  #last: Pending | undefined;

  constructor(client: ManySender, messages: Iterable<OutgoingMessage> | AsyncIterable<OutgoingMessage>, options: SendManyOptions) {
    this.#client = client;
    this.#messages = messages;
    this.#options = options;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<Step> {
    const last = this.#last;
    if (last !== undefined && !last.settled) return this.#after(last, () => this.#next().promise);
    const next = this.#next();
    this.#last = next;
    return next.promise;
  }

  return(): Promise<Step> {
    const last = this.#last;
    if (last !== undefined && !last.settled) return this.#after(last, () => this.#close(undefined, false));
    const closing = tracked(this.#close(undefined, false));
    this.#last = closing;
    return closing.promise;
  }

  throw(error: unknown): Promise<Step> {
    const last = this.#last;
    if (last !== undefined && !last.settled) return this.#after(last, () => this.#close(error, true));
    const closing = tracked(this.#close(error, true));
    this.#last = closing;
    return closing.promise;
  }

  /** Runs `call` once `last` has settled; the call after it waits for this one. */
  #after(last: Pending, call: () => Promise<Step>): Promise<Step> {
    const queued = tracked(last.promise.then(call, call));
    this.#last = queued;
    return queued.promise;
  }

  /** The next outcome: the window filled from the source first. */
  #next(): Pending {
    if (this.#state !== "open") {
      if (this.#state === "done") return settled(Promise.resolve(DONE));
      try {
        this.#start();
      } catch (error) {
        this.#state = "done";
        return settled(Promise.reject(error));
      }
    }
    if (this.#async) return tracked(this.#nextAsync());
    try {
      this.#fill(this.#iterator as Iterator<OutgoingMessage>);
    } catch (error) {
      return this.#sourceFailed(error);
    }
    return this.#take();
  }

  /** Takes messages from a synchronous source until the window is full. */
  #fill(iterator: Iterator<OutgoingMessage>): void {
    const client = this.#client;
    const inFlight = this.#inFlight;
    while (!this.#exhausted && inFlight.length < this.#window && !client.closed) {
      const step = iterator.next();
      if (step.done) this.#exhausted = true;
      else inFlight.push(this.#send(step.value));
    }
  }

  /** `next` for an async source: each message awaited from it. */
  async #nextAsync(): Promise<Step> {
    const iterator = this.#iterator as AsyncIterator<OutgoingMessage>;
    const client = this.#client;
    try {
      while (!this.#exhausted && this.#inFlight.length < this.#window && !client.closed) {
        const step = await iterator.next();
        if (step.done) this.#exhausted = true;
        else this.#inFlight.push(this.#send(step.value));
      }
    } catch (error) {
      return this.#sourceFailed(error).promise;
    }
    return this.#take().promise;
  }

  /** The next outcome in order, or the end: the connection ended (the source stays open) or the source is exhausted. */
  #take(): Pending {
    const head = this.#inFlight.shift();
    if (head !== undefined) return head;
    const failure = this.#failure;
    if (failure !== undefined) {
      this.#failure = undefined;
      return tracked(this.#fail(failure.error));
    }
    this.#state = "done";
    return settled(Promise.resolve(DONE));
  }

  #send(item: OutgoingMessage): Pending {
    const index = this.#index++;
    const pending: Pending = { promise: undefined as unknown as Promise<Step>, settled: false };
    pending.promise = new Promise<Step>((resolve) =>
      // `?.`: a source yielding null or a non-object gets that message's invalid-input outcome
      // (a TypeError here would reject this promise while it waits its turn: unhandled).
      this.#client[SUBMIT](item?.message, item?.envelope, {
        resolve: (result: SendResult) => {
          pending.settled = true;
          resolve({ done: false, value: { ok: true, index, item, result } });
        },
        reject: (error: unknown) => {
          pending.settled = true;
          resolve({ done: false, value: { ok: false, index, item, error: error as SmtpError } });
        },
      }),
    );
    return pending;
  }

  /**
   * Taking from the source failed. Messages already taken are in flight (and may be delivered):
   * their outcomes come first, each in its turn, then the source's error (`#take`), so the caller
   * learns which of them went out. With none in flight the error is this call's.
   */
  #sourceFailed(error: unknown): Pending {
    if (this.#inFlight.length === 0) return tracked(this.#fail(error));
    this.#failure = { error };
    this.#exhausted = true; // take nothing more
    return this.#take();
  }

  /** Taking from the source failed: it is closed (as for-of would), and the error is the call's. */
  async #fail(error: unknown): Promise<never> {
    this.#state = "done";
    await this.#iterator!.return?.();
    throw error;
  }

  /** `return` and `throw`: no more messages are taken; a source still open is closed (those in flight complete). */
  async #close(error: unknown, thrown = false): Promise<Step> {
    const open = this.#state === "open" && (!this.#exhausted || this.#failure !== undefined);
    this.#failure = undefined;
    this.#state = "done";
    if (open) await this.#iterator!.return?.();
    if (thrown) throw error;
    return DONE;
  }

  #start(): void {
    this.#state = "open";
    const messages = this.#messages;
    const window = this.#options.window;
    if (window !== undefined && !(typeof window === "number" && window >= 1)) throw badWindow(window);
    this.#window = Math.floor(window ?? windowFor(this.#client.pipelining));
    this.#async = Symbol.asyncIterator in messages;
    this.#iterator = this.#async ? (messages as AsyncIterable<OutgoingMessage>)[Symbol.asyncIterator]() : (messages as Iterable<OutgoingMessage>)[Symbol.iterator]();
  }

}

/** A `window` that is not a number of messages: refused, not read as "take none" (NaN) or as 1. */
function badWindow(window: unknown): SmtpError {
  const got = typeof window === "number" ? String(window) : typeof window === "string" ? JSON.stringify(window.slice(0, 40)) : typeof window;
  return new SmtpError("mail", "invalid-option", `The option "window" of sendMany must be a number from 1 (the most messages in flight), got ${got}.`, { option: "window" });
}

/** A call's promise, marked when it settles. */
function tracked(promise: Promise<Step>): Pending {
  const pending: Pending = { promise, settled: false };
  const settle = (): void => {
    pending.settled = true;
  };
  promise.then(settle, settle);
  return pending;
}

/** A promise already settled (a later call need not wait for it). */
function settled(promise: Promise<Step>): Pending {
  return { promise, settled: true };
}
