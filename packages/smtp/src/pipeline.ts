/**
 * The reply pipeline: one connection's command writes and reply reads, kept in order.
 *
 * SMTP replies come back in the order commands went out (RFC 2920 §3.1), so reads form one queue:
 * `expect` takes the next place in it and its deadline starts when it is queued. Writes form a
 * second queue (`serialize`, `exclusive`), so overlapping callers never interleave their commands. Once a read
 * or a write fails the reply stream cannot be resynchronised: the pipeline is broken, the socket
 * destroyed, and every later call fails with the same error.
 *
 * Deadlines: each reply has its own (`replyMs`, or the caller's); during `connect()` every one of
 * them is also capped by the one deadline of the whole connect (`limit`).
 *
 * Every error built here from server text passes through the connection's redactor (`redact`).
 *
 * Cost (it matters for pipelined bursts and short sessions): a reply, or a pipelined group of
 * replies, is one read of the socket through a parser (`LineSocket.readParsed`): one promise
 * however many lines and packets it spans, none of them waiting in a queue of their own; a write
 * that meets no backpressure is not awaited; the write queue hands over to the next operation in
 * the reaction to the previous one's write half, without a promise of its own.
 */
import { Deadline, TransportError, WRITTEN, type LineSocket, type WriteOptions } from "@saslkit/transport";
import { SmtpError, transportFailure, type SmtpPhase } from "./errors.js";
import { MalformedReplyError, ReplyParser, type SmtpReply } from "./reply.js";

const noop = (): void => undefined;
/** Shared by every connection closed after its 221: an Error per session costs a stack capture for nothing. */
export const CLOSED_AFTER_QUIT = new TransportError("closed", "The connection was closed after QUIT.");

/** Ignores a write's failure, which the replies read after it report (the pipeline is broken then); no handler for a write that went out at once. */
export function ignoreWriteFailure(written: Promise<unknown>): void {
  if (written !== WRITTEN) written.catch(noop);
}

/** The client's count of the server's answers (`CommandPipeline.answers`), for the pool. */
export const ANSWERS: unique symbol = Symbol("answers");

/** Which reply of a group: its phase and the (masked) command it answers. */
export type GroupMember = (index: number) => [SmtpPhase, string];

export class CommandPipeline {
  readonly line: LineSocket;
  readonly #replyMs: number;
  /** An absolute deadline every wait must also meet (the whole connect), when set. */
  limit: Deadline | undefined;
  /** The connection's redactor, for every error built from server text. */
  readonly redact = (text: string): string => this.line.redact(text);
  /** The latest reply read queued; the socket serves reads in call order, so it settles last. */
  #lastRead: Promise<unknown> | undefined;
  /** Operations waiting for the write side, oldest first (see `serialize`); undefined while it is free. */
  #waiting: (() => Promise<unknown>)[] | undefined;
  #broken: SmtpError | undefined;
  /** QUIT already went out pipelined after a final dot (`writeQuit`). */
  #quitWritten = false;
  #answers = 0;

  /** `replyMs`: the default deadline of each reply. */
  constructor(line: LineSocket, replyMs: number) {
    this.line = line;
    this.#replyMs = replyMs;
    line.onClosed = this.#closed;
  }

  /** A deadline `ms` from now, capped by `limit`. */
  deadline(ms: number = this.#replyMs): Deadline {
    const deadline = Deadline.in(ms);
    return this.limit === undefined ? deadline : deadline.min(this.limit);
  }

  /** The failure that ended this pipeline, if any. */
  get broken(): SmtpError | undefined {
    return this.#broken;
  }

  /**
   * Replies read so far other than 421 (the server closing the link, which says nothing of the
   * commands it answers). The pool compares two readings to learn whether a link answered
   * anything in between.
   */
  get answers(): number {
    return this.#answers;
  }

  /** True once QUIT was written (by `writeQuit`). */
  get quitWritten(): boolean {
    return this.#quitWritten;
  }

  /**
   * Called once by the next `fail`: a wait outside the socket (a streamed body's source) ends
   * with the pipeline. A socket that closes during that wait (an abort, the server hanging up)
   * fails the pipeline with its error then: no read is pending to notice it.
   */
  onFail: (() => void) | undefined;

  readonly #closed = (error: TransportError): void => {
    if (this.onFail !== undefined) this.fail(transportFailure(error, "data", undefined, this.redact));
  };

  /**
   * Ends the pipeline with `failure` (the first failure wins) and destroys the socket with
   * `reason` (default: the failure). Returns the failure that now stands.
   */
  fail(failure: SmtpError, reason?: Error): SmtpError {
    this.#broken ??= failure;
    this.line.destroy(reason);
    const onFail = this.onFail;
    this.onFail = undefined;
    onFail?.();
    return this.#broken;
  }

  /** Settles when every reply queued so far has been read (or failed). */
  drained(): Promise<unknown> {
    const last = this.#lastRead;
    return last === undefined ? WRITTEN : last.then(noop, noop);
  }

  // ---------------------------------------------------------------------------------------------
  // Writes.
  // ---------------------------------------------------------------------------------------------

  /**
   * Writes `data`; a failure breaks the pipeline. `command` names it in errors. Returns the
   * transport's `WRITTEN` when the data went to the socket without backpressure.
   */
  write(phase: SmtpPhase, data: string | Uint8Array, command: string | undefined, options: WriteOptions = {}): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    const written = this.line.write(data, options);
    return written === WRITTEN ? written : written.catch(this.#writeFailed(phase, command));
  }

  /** Writes message pieces (`LineSocket.writePieces`: one coalesced write, not in the transcript); a failure breaks the pipeline. */
  writePieces(phase: SmtpPhase, pieces: readonly Uint8Array[], command: string, deadline: Deadline): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    const written = this.line.writePieces(pieces, { deadline });
    return written === WRITTEN ? written : written.catch(this.#writeFailed(phase, command));
  }

  #writeFailed(phase: SmtpPhase, command: string | undefined): (error: unknown) => never {
    return (error) => {
      const failure = transportFailure(error, phase, command, this.redact);
      this.#broken ??= failure;
      throw failure;
    };
  }

  /** Sends one command line and reads its reply. `mask` replaces it in the transcript and errors. */
  command(phase: SmtpPhase, line: string, mask: string = line): Promise<SmtpReply> {
    const written = this.write(phase, `${line}\r\n`, mask, { mask, deadline: this.deadline() });
    return written === WRITTEN ? this.expect(phase, mask) : written.then(() => this.expect(phase, mask));
  }

  /**
   * Runs `op` once every earlier operation's write half has settled: at once when the write side
   * is free, else right after the one before it (in the reaction to its settling, so a
   * transaction queued behind a pipelined final dot writes in the same tick and leaves in the
   * same packet). `op` returns its write half, a promise settling when the next operation may
   * write; it must not throw (if it does, the queue moves on as if it had settled).
   */
  serialize(op: () => Promise<unknown>): void {
    if (this.#waiting !== undefined) this.#waiting.push(op);
    else {
      this.#waiting = [];
      this.#run(op);
    }
  }

  #run(op: () => Promise<unknown>): void {
    let half: Promise<unknown>;
    try {
      half = op();
    } catch {
      half = WRITTEN; // a broken promise (a bug): the queue still moves on
    }
    half.then(this.#next, this.#next);
  }

  readonly #next = (): void => {
    const op = this.#waiting!.shift();
    if (op === undefined) this.#waiting = undefined;
    else this.#run(op);
  };

  /** Runs `fn` after every earlier queued operation has finished writing; its promise is the write half. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.serialize(() => {
        let run: Promise<T>;
        try {
          run = fn();
        } catch (error) {
          run = Promise.reject(error);
        }
        run.then(resolve, reject);
        return run;
      }),
    );
  }

  /**
   * Writes QUIT without waiting and queues its reply, whose failure is ignored. Called in the
   * same tick as a final dot, QUIT leaves in the same write (LineSocket coalesces).
   */
  writeQuit(): void {
    this.#quitWritten = true;
    ignoreWriteFailure(this.write("quit", "QUIT\r\n", "QUIT"));
    this.expect("quit", "QUIT").catch(noop);
  }

  /** After the queued replies: QUIT (unless the pipeline is broken or closed), then close. Never throws for a server that already hung up. */
  async quit(): Promise<void> {
    await this.drained();
    if (!this.#broken && !this.line.closed) {
      try {
        await this.command("quit", "QUIT");
        // The server answered QUIT and reads nothing more: close now rather than wait for its FIN
        // (one event-loop turn and a read less per session).
        this.line.destroy(CLOSED_AFTER_QUIT);
        return;
      } catch {
        // The server may close before or instead of answering 221.
      }
    }
    await this.line.close();
  }

  // ---------------------------------------------------------------------------------------------
  // Reads.
  // ---------------------------------------------------------------------------------------------

  /**
   * Queues a reply read after all earlier ones (the socket serves reads in call order); the
   * deadline starts now (`timeout` in ms), or is the one given (a caller that just made one for
   * a write of the same tick). A reply already buffered is parsed at once.
   */
  expect(phase: SmtpPhase, command: string | undefined, timeout: number | Deadline = this.#replyMs): Promise<SmtpReply> {
    if (this.#broken) return Promise.reject(this.#broken);
    const deadline = typeof timeout === "number" ? this.deadline(timeout) : timeout.min(this.limit);
    const read = this.line.readParsed(deadline, "a reply", this.#parseReply, (error) => this.#readFailed(error, phase, command));
    this.#lastRead = read;
    return read;
  }

  /**
   * The `count` replies to a pipelined group, as one queued read (one deadline, starting now,
   * `timeout` ms: the reply deadline unless the group ends with a message's final reply). They
   * are collected in `replies` (the caller's array: what came before a failure stays readable).
   */
  expectGroup(count: number, member: GroupMember, timeout: number = this.#replyMs, replies: SmtpReply[] = []): Promise<SmtpReply[]> {
    if (this.#broken) return Promise.reject(this.#broken);
    const read = this.line.readParsed(
      this.deadline(timeout),
      "a reply",
      (next) => {
        for (let reply = this.#parseReply(next); reply !== undefined; reply = this.#parseReply(next)) if (replies.push(reply) === count) return replies;
        return undefined;
      },
      (error) => this.#readFailed(error, ...member(replies.length)),
    );
    this.#lastRead = read;
    return read;
  }

  /**
   * One parser for the connection: the socket serves reads one at a time, each ends at a reply's
   * last line, and a read that fails breaks the pipeline, so no partial reply is ever left in it.
   */
  readonly #parser = new ReplyParser();
  readonly #parseReply = (next: () => string | undefined): SmtpReply | undefined => {
    for (let text = next(); text !== undefined; text = next()) {
      const reply = this.#parser.push(text);
      if (reply) {
        if (reply.code !== 421) this.#answers++;
        return reply;
      }
    }
    return undefined;
  };

  /**
   * A failed read breaks the pipeline: a reply stream cannot be resynchronised. The first failure
   * stands for every later call; a malformed line's quote passes through the redactor.
   */
  #readFailed(error: unknown, phase: SmtpPhase, command: string | undefined): SmtpError {
    if (this.#broken) return this.#broken;
    let failure: SmtpError;
    if (error instanceof MalformedReplyError) {
      // The message quotes the server's line: a server echoing a credential must not put it here.
      failure = new SmtpError(phase, "malformed-reply", error.redactedMessage(this.redact), { command, redact: this.redact });
    } else failure = transportFailure(error, phase, command, this.redact);
    return this.fail(failure);
  }
}
