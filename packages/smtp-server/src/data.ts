/**
 * The DATA decoder: turns the bytes a client sends after `354` into the message, one chunk at a
 * time, without a Buffer (or any object) per line.
 *
 * End of data (RFC 5321 §4.1.1.4, §4.5.2): ONLY `<CRLF>.<CRLF>` ends the message, where the first
 * CRLF is the end of the previous line (or the `354` itself, for an empty message). `<LF>.<LF>`,
 * `<LF>.<CRLF>`, `<CRLF>.<LF>`, `<CR>.<CR>`, `<CR>.<CRLF>` and every other mix never do: the bytes
 * after such a fake terminator are message content, never a second transaction (SMTP smuggling,
 * CVE-2023-51764/51765/51766).
 *
 * Bare line ends, as Postfix 3.9's `smtpd_forbid_bare_newline` treats them:
 * - `"normalize"` (Postfix 3.9's default): a bare LF or a bare CR ends a content line and is
 *   delivered as CRLF, so the message the application receives holds CR and LF only as CRLF pairs
 *   (a relaying application cannot pass a smuggling payload on). Postfix keeps a bare CR as data;
 *   we normalise it too, because some receivers downstream take a bare CR as a line end.
 * - `"reject"`: the same framing, and the message is refused once its real end arrives
 *   (the session answers 550 5.5.2 and disconnects, as Postfix does).
 * A line that starts with a dot loses that dot (transparency, RFC 5321 §4.5.2), whatever ended
 * the previous line.
 */

import { TransportError, type Deadline } from "@saslkit/transport";
import type { MessageSink } from "./message.js";
import type { InputReader } from "./reader.js";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from("\r\n");

export type BareNewlinePolicy = "normalize" | "reject";

export interface DecodedChunk {
  /** Message bytes decoded from this chunk (may be empty). A view of the input when nothing changed. */
  readonly data: Buffer;
  /** True once `<CRLF>.<CRLF>` was seen: the message is complete. */
  readonly done: boolean;
  /** When done: the bytes that followed the terminator (the next pipelined commands). */
  readonly rest: Buffer | undefined;
}

/**
 * Decodes one message. Feed every chunk in order with `push`; stop once `done`. Never throws;
 * `bareNewline` and `longestLine` say what was seen, for the session to decide.
 */
export class DataDecoder {
  /** The next byte starts a line. */
  #lineStart = true;
  /** The current line began after a real CRLF (or at the start of the data). */
  #strict = true;
  /** The current line so far is a lone dot at a strict line start. */
  #dotLine = false;
  /** The previous chunk ended with a CR whose meaning depends on the next byte. */
  #pendingCr = false;
  #lineBytes = 0;
  /** True once a bare CR or bare LF was seen. */
  bareNewline = false;
  /** The longest content line seen, in bytes (without its line end). */
  longestLine = 0;

  push(chunk: Buffer): DecodedChunk {
    const out = new Output(chunk);
    const len = chunk.length;
    let i = 0;
    let nextLf = -2;
    let nextCr = -2;
    while (i < len) {
      if (this.#pendingCr) {
        this.#pendingCr = false;
        if (chunk[i] === LF) {
          if (this.#dotLine) return this.#finish(out, 0, chunk.subarray(i + 1));
          out.insert(CRLF, i + 1);
          this.#newLine(true);
          i++;
          continue;
        }
        // A bare CR: normalised to CRLF; chunk[i] starts the next line.
        this.bareNewline = true;
        out.insert(CRLF, i);
        this.#newLine(false);
      }
      if (this.#lineStart) {
        this.#lineStart = false;
        if (chunk[i] === DOT) {
          this.#dotLine = this.#strict;
          out.drop(i);
          this.#count(1);
          i++;
          continue;
        }
      }
      if (nextLf !== -1 && nextLf < i) nextLf = chunk.indexOf(LF, i);
      if (nextCr !== -1 && nextCr < i) nextCr = chunk.indexOf(CR, i);
      const p = nextLf < 0 ? (nextCr < 0 ? len : nextCr) : nextCr < 0 ? nextLf : Math.min(nextLf, nextCr);
      if (p > i) {
        this.#dotLine = false;
        this.#count(p - i);
        i = p;
        if (p === len) break;
      }
      if (chunk[p] === CR) {
        if (p + 1 === len) {
          // Wait for the next byte; the CR is not emitted yet.
          out.drop(p);
          this.#pendingCr = true;
          i = len;
          break;
        }
        if (chunk[p + 1] === LF) {
          if (this.#dotLine) return this.#finish(out, p, chunk.subarray(p + 2));
          this.#newLine(true);
          i = p + 2;
          continue;
        }
        this.bareNewline = true;
        out.replace(p, CRLF);
        this.#newLine(false);
        i = p + 1;
        continue;
      }
      // A bare LF.
      this.bareNewline = true;
      out.replace(p, CRLF);
      this.#newLine(false);
      i = p + 1;
    }
    return { data: out.result(len), done: false, rest: undefined };
  }

  #finish(out: Output, end: number, rest: Buffer): DecodedChunk {
    return { data: out.result(end), done: true, rest: rest.length ? rest : undefined };
  }

  #newLine(strict: boolean): void {
    this.#lineStart = true;
    this.#strict = strict;
    this.#dotLine = false;
    this.#lineBytes = 0;
  }

  #count(n: number): void {
    this.#lineBytes += n;
    if (this.#lineBytes > this.longestLine) this.longestLine = this.#lineBytes;
  }
}

/**
 * The decoded bytes of one chunk: a view of the input while nothing changed, else one compact
 * copy (never one object per line, whatever the line structure).
 */
class Output {
  readonly #input: Buffer;
  #buffer: Buffer | undefined;
  #length = 0;
  /** Start of the input run not yet copied (or viewed). */
  #from = 0;

  constructor(input: Buffer) {
    this.#input = input;
  }

  /** Leaves out input byte `at`. */
  drop(at: number): void {
    this.#copyTo(at);
    this.#from = at + 1;
  }

  /** Replaces input byte `at` with `bytes`. */
  replace(at: number, bytes: Buffer): void {
    this.#copyTo(at);
    this.#append(bytes);
    this.#from = at + 1;
  }

  /** Inserts `bytes` before input byte `at`, skipping input bytes up to `at` that were already dropped. */
  insert(bytes: Buffer, resumeAt: number): void {
    this.#copyTo(this.#from);
    this.#append(bytes);
    this.#from = resumeAt;
  }

  result(end: number): Buffer {
    // Nothing copied yet means at most a leading run was dropped: a view is exact.
    if (this.#buffer === undefined) return this.#input.subarray(Math.min(this.#from, end), end);
    this.#copyTo(end);
    return this.#buffer.subarray(0, this.#length);
  }

  #copyTo(end: number): void {
    if (end <= this.#from) return;
    this.#ensure(end - this.#from);
    this.#input.copy(this.#buffer!, this.#length, this.#from, end);
    this.#length += end - this.#from;
    this.#from = end;
  }

  #append(bytes: Buffer): void {
    this.#ensure(bytes.length);
    bytes.copy(this.#buffer!, this.#length);
    this.#length += bytes.length;
  }

  #ensure(more: number): void {
    const need = this.#length + more;
    if (this.#buffer && need <= this.#buffer.length) return;
    // Bare line ends add one byte each, so the output is at most twice the input (plus a CRLF).
    const size = Math.max(need, Math.min(this.#input.length * 2 + 2, Math.max(need * 2, this.#input.length + 64)));
    const next = Buffer.allocUnsafe(size);
    if (this.#buffer) this.#buffer.copy(next, 0, 0, this.#length);
    this.#buffer = next;
  }
}

/**
 * Reads one DATA transfer from `reader` into `sink` until `<CRLF>.<CRLF>`, and gives back what
 * followed it. Lines longer than `maxLineBytes` end the session (TransportError "line-too-long").
 * With `stopAtBareNewline` the sink stops delivering as soon as a bare CR or LF is seen (the
 * message will be refused). Returns the decoder, whose flags the session reads.
 */
export async function receiveData(reader: InputReader, sink: MessageSink, deadline: Deadline, options: { maxLineBytes: number; stopAtBareNewline: boolean }): Promise<DataDecoder> {
  const decoder = new DataDecoder();
  for (;;) {
    const chunk = await reader.chunk(deadline);
    const { data, done, rest } = decoder.push(chunk);
    if (decoder.longestLine > options.maxLineBytes) throw new TransportError("line-too-long", `The client sent a line longer than ${options.maxLineBytes} bytes.`);
    if (options.stopAtBareNewline && decoder.bareNewline) sink.abort("bare <CR> or <LF> in the message");
    await sink.write(data, deadline);
    if (done) {
      reader.unshift(rest);
      return decoder;
    }
  }
}
