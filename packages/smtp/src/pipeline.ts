/**
 * The reply pipeline: one connection's command writes and reply reads, kept in order.
 *
 * SMTP replies come back in the order commands went out (RFC 2920 §3.1), so reads form one queue:
 * `expect` takes the next place in it and its deadline starts when it is queued. Writes form a
 * second queue (`exclusive`), so overlapping callers never interleave their commands. Once a read
 * or a write fails the reply stream cannot be resynchronised: the pipeline is broken, the socket
 * destroyed, and every later call fails with the same error.
 *
 * Deadlines: each reply has its own (`replyMs`, or the caller's); during `connect()` every one of
 * them is also capped by the one deadline of the whole connect (`limit`).
 *
 * Every error built here from server text passes through the connection's redactor (`redact`).
 *
 * Fast paths (they matter for pipelined bursts): a reply already buffered is parsed synchronously
 * and needs no place in the queue; a multi-line reply that arrived in one packet costs no promise
 * per line; a pipelined group's replies are read as one queued item.
 */
import { Deadline, TransportError, type LineSocket, type WriteOptions } from "@saslkit/transport";
import { SmtpError, transportFailure, type Redact, type SmtpPhase } from "./errors.js";
import { MalformedReplyError, ReplyParser, type SmtpReply } from "./reply.js";

const noop = (): void => undefined;
/** Shared by every connection closed after its 221: an Error per session costs a stack capture for nothing. */
export const CLOSED_AFTER_QUIT = new TransportError("closed", "The connection was closed after QUIT.");

/** Which reply of a group: its phase and the (masked) command it answers. */
export type GroupMember = (index: number) => [SmtpPhase, string];

export class CommandPipeline {
  readonly line: LineSocket;
  readonly #replyMs: number;
  /** An absolute deadline every wait must also meet (the whole connect), when set. */
  limit: Deadline | undefined;
  /** The connection's redactor, for every error built from server text. */
  readonly redact = (text: string): string => this.line.redact(text);
  #replyTail: Promise<unknown> = Promise.resolve();
  /** Replies queued and not yet settled; 0 lets the next read start at once. */
  #replyPending = 0;
  #writeTail: Promise<unknown> = Promise.resolve();
  #broken: SmtpError | undefined;
  /** QUIT already went out pipelined after a final dot (`writeQuit`). */
  #quitWritten = false;

  /** `replyMs`: the default deadline of each reply. */
  constructor(line: LineSocket, replyMs: number) {
    this.line = line;
    this.#replyMs = replyMs;
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

  /** True once QUIT was written (by `writeQuit`). */
  get quitWritten(): boolean {
    return this.#quitWritten;
  }

  /**
   * Ends the pipeline with `failure` (the first failure wins) and destroys the socket with
   * `reason` (default: the failure). Returns the failure that now stands.
   */
  fail(failure: SmtpError, reason?: Error): SmtpError {
    this.#broken ??= failure;
    this.line.destroy(reason);
    return this.#broken;
  }

  /** Settles when every reply queued so far has been read (or failed). */
  drained(): Promise<unknown> {
    return this.#replyTail;
  }

  // ---------------------------------------------------------------------------------------------
  // Writes.
  // ---------------------------------------------------------------------------------------------

  /** Writes `data`; a failure breaks the pipeline. `command` names it in errors. */
  write(phase: SmtpPhase, data: string | Uint8Array, command: string | undefined, options: WriteOptions = {}): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    return this.line.write(data, options).catch((error: unknown) => {
      const failure = transportFailure(error, phase, command, this.redact);
      this.#broken ??= failure;
      throw failure;
    });
  }

  /** Writes message pieces (`LineSocket.writePieces`: one coalesced write, not in the transcript); a failure breaks the pipeline. */
  writePieces(phase: SmtpPhase, pieces: readonly Uint8Array[], command: string, deadline: Deadline): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    return this.line.writePieces(pieces, { deadline }).catch((error: unknown) => {
      const failure = transportFailure(error, phase, command, this.redact);
      this.#broken ??= failure;
      throw failure;
    });
  }

  /** Sends one command line and reads its reply. `mask` replaces it in the transcript and errors. */
  async command(phase: SmtpPhase, line: string, mask: string = line): Promise<SmtpReply> {
    await this.write(phase, `${line}\r\n`, mask, { mask, deadline: this.deadline() });
    return this.expect(phase, mask);
  }

  /** Runs `fn` after every earlier queued operation has finished writing. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writeTail.then(fn, fn);
    this.#writeTail = run.then(noop, noop);
    return run;
  }

  /**
   * Writes QUIT without waiting and queues its reply, whose failure is ignored. Called in the
   * same tick as a final dot, QUIT leaves in the same write (LineSocket coalesces).
   */
  writeQuit(): void {
    this.#quitWritten = true;
    this.write("quit", "QUIT\r\n", "QUIT").catch(noop);
    this.expect("quit", "QUIT").catch(noop);
  }

  /** After the queued replies: QUIT (unless the pipeline is broken or closed), then close. Never throws for a server that already hung up. */
  async quit(): Promise<void> {
    await this.#replyTail;
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

  /** Queues a reply read after all earlier ones; the deadline starts now. */
  expect(phase: SmtpPhase, command: string | undefined, timeoutMs = this.#replyMs): Promise<SmtpReply> {
    const deadline = this.deadline(timeoutMs);
    if (this.#replyPending === 0) {
      // Nothing queued: a reply already buffered needs no place in the queue.
      const r = this.#readReply(deadline, phase, command);
      if (!(r instanceof Promise)) return Promise.resolve(r);
      this.#replyPending++;
      this.#replyTail = r.then(this.#replyDone, this.#replyDone);
      return r;
    }
    const read = () => this.#readReply(deadline, phase, command);
    const p = this.#replyTail.then(read, read);
    this.#replyPending++;
    this.#replyTail = p.then(this.#replyDone, this.#replyDone);
    return p;
  }

  /** The `count` replies to a pipelined group, as one queued read (one deadline, one wait chain). */
  expectGroup(count: number, member: GroupMember): Promise<SmtpReply[]> {
    const deadline = this.deadline();
    const rest = async (replies: SmtpReply[], first: Promise<SmtpReply>): Promise<SmtpReply[]> => {
      replies.push(await first);
      for (let i = replies.length; i < count; i++) replies.push(await this.#readReply(deadline, ...member(i)));
      return replies;
    };
    // Usually the whole group's replies arrived in one read: parse them without a promise each.
    const read = (): Promise<SmtpReply[]> => {
      const replies: SmtpReply[] = [];
      for (let i = 0; i < count; i++) {
        const r = this.#readReply(deadline, ...member(i));
        if (r instanceof Promise) return rest(replies, r);
        replies.push(r);
      }
      return Promise.resolve(replies);
    };
    const p = this.#replyPending ? this.#replyTail.then(read, read) : read();
    this.#replyPending++;
    this.#replyTail = p.then(this.#replyDone, this.#replyDone);
    return p;
  }

  readonly #replyDone = (): void => {
    this.#replyPending--;
  };

  /** A reply, synchronously when it is already buffered; failures come back as a rejected promise. */
  #readReply(deadline: Deadline, phase: SmtpPhase, command: string | undefined): SmtpReply | Promise<SmtpReply> {
    if (this.#broken) return Promise.reject(this.#broken);
    try {
      const r = replyNow(this.line, deadline, phase, command, this.redact);
      return r instanceof Promise ? r.catch(this.#breakOn) : r;
    } catch (error) {
      return Promise.reject(this.fail(error as SmtpError));
    }
  }

  /** A reply stream that failed cannot be resynchronised: the connection is done. */
  readonly #breakOn = (error: unknown): never => {
    throw this.fail(error as SmtpError);
  };
}

/**
 * One reply: parsed synchronously from lines already buffered when it is complete there (a
 * pipelined burst costs no promise per line), else finished asynchronously. Throws (or
 * rejects with) an SmtpError.
 */
function replyNow(line: LineSocket, deadline: Deadline, phase: SmtpPhase, command: string | undefined, redact: Redact): SmtpReply | Promise<SmtpReply> {
  const parser = new ReplyParser();
  try {
    for (let text = line.readLineNow(); text !== undefined; text = line.readLineNow()) {
      const reply = parser.push(text);
      if (reply) return reply;
    }
  } catch (error) {
    throw readFailure(line, error, phase, command, redact);
  }
  return replyLater(line, parser, deadline, phase, command, redact);
}

async function replyLater(line: LineSocket, parser: ReplyParser, deadline: Deadline, phase: SmtpPhase, command: string | undefined, redact: Redact): Promise<SmtpReply> {
  try {
    for (;;) {
      let reply = parser.push(await line.readLine(deadline));
      if (reply) return reply;
      // The rest of a multi-line reply usually came in the same packet: no promise per line.
      for (let text = line.readLineNow(); text !== undefined; text = line.readLineNow()) {
        reply = parser.push(text);
        if (reply) return reply;
      }
    }
  } catch (error) {
    throw readFailure(line, error, phase, command, redact);
  }
}

function readFailure(line: LineSocket, error: unknown, phase: SmtpPhase, command: string | undefined, redact: Redact): SmtpError {
  if (error instanceof MalformedReplyError) {
    line.destroy();
    // The message quotes the server's line: a server echoing a credential must not put it here.
    return new SmtpError(phase, "malformed-reply", redact ? error.redactedMessage(redact) : error.message, { command, redact });
  }
  return transportFailure(error, phase, command, redact);
}
