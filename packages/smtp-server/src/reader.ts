/**
 * The session's input: command lines, DATA and BDAT bytes, read from one `LineSocket` as raw
 * chunks, so that the server sees exactly which bytes ended a line (the transport's line reader
 * accepts a bare LF as a line end and hides it).
 */
import { Deadline, TransportError, type LineSocket } from "@saslkit/transport";

const CR = 0x0d;
const LF = 0x0a;

/** One command line: its bytes without the line end, and how it ended. */
export interface CommandBytes {
  readonly line: Buffer;
  /** The line ended with a bare LF (no CR before it). */
  readonly bareLf: boolean;
  /** The line holds a CR other than the one of its CRLF. */
  readonly bareCr: boolean;
}

export class InputReader {
  /** Bytes taken from the socket and not consumed yet (what a pipelining client sent ahead). */
  #pending: Buffer | undefined;

  constructor(private readonly io: LineSocket) {}

  /** True when bytes are waiting, here or in the transport (STARTTLS refuses those). */
  get hasPending(): boolean {
    return (this.#pending?.length ?? 0) > 0;
  }

  /** Gives bytes back (what followed the end of DATA). */
  unshift(bytes: Buffer | undefined): void {
    if (!bytes || bytes.length === 0) return;
    this.#pending = this.#pending?.length ? Buffer.concat([bytes, this.#pending]) : bytes;
  }

  /** The next chunk of input, whatever its size (at most what has arrived). */
  async chunk(deadline: Deadline, max = Infinity): Promise<Buffer> {
    const pending = this.#pending;
    if (pending && pending.length) {
      if (pending.length <= max) {
        this.#pending = undefined;
        return pending;
      }
      this.#pending = pending.subarray(max);
      return pending.subarray(0, max);
    }
    const available = this.io.buffered;
    return this.io.readBytes(Math.max(1, Math.min(available, max)), deadline);
  }

  /**
   * The next command line. Pieces are kept in a list and joined once, so a client dripping one
   * byte at a time costs linear work. Rejects with TransportError "line-too-long" past `maxLine`.
   */
  async line(deadline: Deadline, maxLine: number): Promise<CommandBytes> {
    const pieces: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = await this.chunk(deadline);
      const at = chunk.indexOf(LF);
      if (at < 0) {
        pieces.push(chunk);
        length += chunk.length;
        if (length > maxLine + 1) throw new TransportError("line-too-long", `The client sent a line longer than ${maxLine} bytes.`);
        continue;
      }
      if (length + at > maxLine + 1) throw new TransportError("line-too-long", `The client sent a line longer than ${maxLine} bytes.`);
      pieces.push(chunk.subarray(0, at));
      this.unshift(chunk.subarray(at + 1));
      let line = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      const crlf = line.length > 0 && line[line.length - 1] === CR;
      if (crlf) line = line.subarray(0, line.length - 1);
      if (line.length > maxLine) throw new TransportError("line-too-long", `The client sent a line longer than ${maxLine} bytes.`);
      return { line, bareLf: !crlf, bareCr: line.includes(CR) };
    }
  }

  /** Reads exactly `size` bytes (a BDAT chunk), handing each piece to `write`, or dropping them. */
  async exactly(size: number, deadline: Deadline, write: ((chunk: Buffer) => Promise<void>) | undefined): Promise<void> {
    let left = size;
    while (left > 0) {
      const chunk = await this.chunk(deadline, left);
      left -= chunk.length;
      if (write) await write(chunk);
    }
  }
}
