/**
 * The DATA body encoder (RFC 5321 §4.5.2): line endings normalised to CRLF (bare LF and bare CR
 * become CRLF), a leading `.` doubled, and a final CRLF added when the message lacks one. It works
 * chunk by chunk and never holds the message: state across chunks is two flags.
 */
import { Transform, type TransformCallback } from "node:stream";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from("\r\n");
const ONE_DOT = Buffer.from(".");
const EMPTY = Buffer.alloc(0);
const END_OF_DATA = Buffer.from(".\r\n");
/**
 * Above this many pieces per chunk (one per repaired line end or stuffed dot, on average more
 * than one every 512 bytes), `encode` joins them into one buffer: a writev of thousands of tiny
 * pieces costs more than one copy.
 */
const JOIN_ABOVE = 16;

/**
 * The encoder without a stream around it: `encode` (or `encodeInto`) each chunk in order, then
 * `finish`. The client uses it directly (a Transform per message costs more than encoding a
 * small message).
 *
 * It works on bytes, never on strings: one native `indexOf` for each LF and one for each CR finds
 * the line ends (a CRLF costs two, a message without bare CR or LF and without leading dots is
 * passed on as the very same Buffer), and the output is pieces of the input (`subarray`, no copy)
 * around the few bytes inserted, so memory stays flat whatever the chunk size.
 */
export class DotEncoder {
  /** False: line ends are repaired but no dot is doubled (BDAT, RFC 3030, has no end marker to protect). */
  readonly #dots: boolean;
  #atLineStart = true;
  /** The previous chunk ended with a CR (already emitted as CRLF): an LF starting this one is its partner. */
  #pendingCR = false;

  constructor(options: { readonly stuffDots?: boolean } = {}) {
    this.#dots = options.stuffDots ?? true;
  }

  /** The bytes that end the body: CRLF when the last line had no line end, else nothing. */
  finish(): Buffer {
    if (this.#pendingCR || this.#atLineStart) {
      this.#pendingCR = false;
      return EMPTY;
    }
    this.#atLineStart = true;
    return CRLF;
  }

  /** Encodes one chunk, carrying state to the next. Public for tests and for in-memory use. */
  encode(input: Buffer): Buffer {
    if (input.length === 0) return input;
    const parts: Buffer[] = [];
    const size = this.encodeInto(input, parts);
    return parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts, size);
  }

  /**
   * Encodes one chunk into pieces appended to `out` (views of `input` and shared constant
   * buffers: neither may be modified by the caller); returns the number of bytes appended. The
   * pieces are written in order, e.g. corked into one writev.
   */
  encodeInto(input: Buffer, out: Buffer[]): number {
    const n = input.length;
    if (n === 0) return 0;
    const first = out.length;
    let from = 0; // start of the input not yet appended
    let i = 0; // scan position
    let atStart = this.#atLineStart;
    let size = n; // bytes appended: each insertion (a dot, a CR or LF turned into CRLF) adds one
    if (this.#pendingCR) {
      this.#pendingCR = false;
      if (input[0] === LF) {
        from = i = 1;
        size--;
      }
    }
    let cr = input.indexOf(CR, i);
    let lf = input.indexOf(LF, i);
    while (i < n) {
      if (atStart && this.#dots && input[i] === DOT) {
        // A line starting with "." gets one more (RFC 5321 §4.5.2); the original dot stays in the next piece.
        if (i > from) out.push(input.subarray(from, i));
        out.push(ONE_DOT);
        size++;
        from = i;
      }
      if (cr >= 0 && cr + 1 === lf) {
        // CRLF: nothing to repair.
        i = lf + 1;
        cr = input.indexOf(CR, i);
        lf = input.indexOf(LF, i);
        atStart = true;
        continue;
      }
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A bare CR (or a CR ending the chunk, whose LF may start the next one): emit CRLF.
        if (cr > from) out.push(input.subarray(from, cr));
        out.push(CRLF);
        size++;
        from = i = cr + 1;
        if (i === n) this.#pendingCR = true;
        cr = input.indexOf(CR, i);
        atStart = true;
        continue;
      }
      if (lf >= 0) {
        // A bare LF: emit CRLF.
        if (lf > from) out.push(input.subarray(from, lf));
        out.push(CRLF);
        size++;
        from = i = lf + 1;
        lf = input.indexOf(LF, i);
        atStart = true;
        continue;
      }
      atStart = false; // the rest of the chunk is inside one line
      break;
    }
    this.#atLineStart = atStart;
    if (from < n) out.push(from === 0 ? input : input.subarray(from));
    if (out.length - first > JOIN_ABOVE && out.length - first > n >> 9) {
      const joined = Buffer.concat(out.slice(first), size);
      out.length = first;
      out.push(joined);
    }
    return size;
  }

  /** A whole in-memory message, stuffed, with its final CRLF (if missing) and the `.` line, as one buffer. */
  encodeWithEnd(input: Buffer): Buffer {
    const parts: Buffer[] = [];
    let size = this.encodeInto(input, parts);
    const tail = this.finish();
    if (tail.length) parts.push(tail);
    parts.push(END_OF_DATA);
    size += tail.length + END_OF_DATA.length;
    return Buffer.concat(parts, size);
  }
}

/** The encoder as a Transform stream (for piping a Readable body). */
export class DotStuffer extends Transform {
  readonly #encoder = new DotEncoder();
  /** Bytes written out so far (after stuffing), for SIZE checks and logs. */
  bytes = 0;

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const input = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    const out = this.#encoder.encode(input);
    if (out.length) {
      this.bytes += out.length;
      this.push(out);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const tail = this.#encoder.finish();
    if (tail.length) {
      this.bytes += tail.length;
      this.push(tail);
    }
    callback();
  }

  /** See `DotEncoder.finish`. */
  finish(): Buffer {
    return this.#encoder.finish();
  }

  /** See `DotEncoder.encode`. */
  encode(input: Buffer): Buffer {
    return this.#encoder.encode(input);
  }
}

/** Encodes a whole in-memory body (tests, small messages). Ends with CRLF (unless empty); the `.` line is not included. */
export function dotStuff(body: string | Uint8Array): Buffer {
  const s = new DotEncoder();
  const input = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Buffer.concat([s.encode(input), s.finish()]);
}
