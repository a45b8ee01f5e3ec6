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
/** `DotEncoder`'s piece list between chunks: none (it never holds a caller's array). */
const NO_PIECES: Buffer[] = [];
/**
 * Above this many pieces per chunk (one per repaired line end or stuffed dot, on average more
 * than one every 512 bytes), `encode` joins them into one buffer: a writev of thousands of tiny
 * pieces costs more than one copy.
 */
const JOIN_ABOVE = 16;
/**
 * Once a chunk of at least `DENSE_MIN_CHUNK` bytes has produced this many pieces averaging under
 * 512 bytes (bare-LF text: one view per line), the rest of it is copied into blocks of
 * `BLOCK_BYTES` instead: a 4 MiB chunk of bare-LF lines would otherwise hold 131,072 pieces
 * until the chunk's end, enough JS objects to survive young-generation GCs and grow the heap by
 * tens of MiB (bench: +96 MiB RSS). Smaller chunks keep the single join at the end, which is faster.
 */
const DENSE_AFTER = 512;
const DENSE_MIN_CHUNK = 256 * 1024;
const BLOCK_BYTES = 64 * 1024;
/** Segments up to this long are copied into a block by a loop, longer ones natively. */
const SHORT_COPY = 256;

/**
 * The rest of a dense chunk (see `DENSE_AFTER`), copied into blocks appended to `out`: no object
 * per line. `end` must be called after the last piece.
 */
class DenseOutput {
  readonly #out: Buffer[];
  #block: Buffer | undefined;
  #pos = 0;

  private constructor(out: Buffer[]) {
    this.#out = out;
  }

  /** Switches to copying when `out[first..]` averages under 512 bytes a piece (those pieces are copied too); else undefined. */
  static from(out: Buffer[], first: number): DenseOutput | undefined {
    let bytes = 0;
    for (let k = first; k < out.length; k++) bytes += out[k]!.length;
    if (bytes >= (out.length - first) * 512) return undefined;
    const dense = new DenseOutput(out);
    for (const piece of out.splice(first)) dense.copy(piece, 0, piece.length);
    return dense;
  }

  /** Appends `source[from, to)`. */
  copy(source: Buffer, from: number, to: number): void {
    while (from < to) {
      if (this.#block === undefined || this.#pos === BLOCK_BYTES) this.#nextBlock();
      const block = this.#block!;
      const take = Math.min(BLOCK_BYTES - this.#pos, to - from);
      if (take <= SHORT_COPY) {
        // Byte by byte: a native copy of a range makes a view object per call, one per line here.
        let pos = this.#pos;
        for (let k = from; k < from + take; k++) block[pos++] = source[k]!;
      } else source.copy(block, this.#pos, from, from + take);
      this.#pos += take;
      from += take;
    }
  }

  /** Appends an inserted "." or CRLF. */
  insert(bytes: Buffer): void {
    if (this.#block === undefined || this.#pos + bytes.length > BLOCK_BYTES) this.#nextBlock();
    const block = this.#block!;
    for (let k = 0; k < bytes.length; k++) block[this.#pos++] = bytes[k]!;
  }

  end(): void {
    if (this.#block && this.#pos > 0) this.#out.push(this.#pos === BLOCK_BYTES ? this.#block : this.#block.subarray(0, this.#pos));
    this.#block = undefined;
  }

  #nextBlock(): void {
    this.end();
    this.#block = Buffer.allocUnsafe(BLOCK_BYTES);
    this.#pos = 0;
  }
}

/**
 * The encoder without a stream around it: `encode` (or `encodeInto`) each chunk in order, then
 * `finish`. The client uses it directly (a Transform per message costs more than encoding a
 * small message).
 *
 * It works on bytes, never on strings: one native `indexOf` for each LF and one for each CR finds
 * the line ends (a CRLF costs two, a message without bare CR or LF and without leading dots is
 * passed on as the very same Buffer), and the output is pieces of the input (`subarray`, no copy)
 * around the few bytes inserted. Where repairs are dense (bare-LF text) the pieces are joined: in
 * one buffer for a small chunk, in 64 KiB blocks for a big one, so neither a copy of a whole big
 * chunk nor one object per line is held.
 */
export class DotEncoder {
  /** False: line ends are repaired but no dot is doubled (BDAT, RFC 3030, has no end marker to protect). */
  readonly #dots: boolean;
  #atLineStart = true;
  /** The previous chunk ended with a CR (already emitted as CRLF): an LF starting this one is its partner. */
  #pendingCR = false;
  // Where `encodeInto` is appending the current chunk's pieces (see `#insert`).
  #out: Buffer[] = NO_PIECES;
  #first = 0;
  /** Set once this chunk's pieces turn dense. */
  #dense: DenseOutput | undefined;
  #checkAt = Infinity;

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

  /** `finish`, appended to `out` when not empty; returns the number of bytes appended. */
  finishInto(out: Buffer[]): number {
    const tail = this.finish();
    if (tail.length) out.push(tail);
    return tail.length;
  }

  /** Encodes one chunk, carrying state to the next. Public for tests and for in-memory use. */
  encode(input: Buffer): Buffer {
    if (input.length === 0) return input;
    const parts: Buffer[] = [];
    const size = this.encodeInto(input, parts);
    return parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts, size);
  }

  /**
   * Encodes one chunk into pieces appended to `out` (views of `input`, shared constant buffers
   * and, where repairs are dense, new buffers of at most 64 KiB: none may be modified by the
   * caller); returns the number of bytes appended. The pieces are written in order, e.g. corked
   * into one writev.
   */
  encodeInto(input: Buffer, out: Buffer[]): number {
    const n = input.length;
    if (n === 0) return 0;
    const first = out.length;
    this.#out = out;
    this.#first = first;
    this.#dense = undefined;
    this.#checkAt = n >= DENSE_MIN_CHUNK ? first + DENSE_AFTER : Infinity;
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
        this.#insert(input, from, i, ONE_DOT);
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
        this.#insert(input, from, cr, CRLF);
        size++;
        from = i = cr + 1;
        if (i === n) this.#pendingCR = true;
        cr = input.indexOf(CR, i);
        atStart = true;
        continue;
      }
      if (lf >= 0) {
        // A bare LF: emit CRLF.
        this.#insert(input, from, lf, CRLF);
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
    const dense = this.#dense as DenseOutput | undefined; // set by #insert
    if (from < n) {
      if (dense) dense.copy(input, from, n);
      else out.push(from === 0 ? input : input.subarray(from));
    }
    dense?.end();
    this.#dense = undefined;
    this.#out = NO_PIECES; // the caller's array is not held between chunks
    if (out.length - first > JOIN_ABOVE && out.length - first > n >> 9) {
      const joined = Buffer.concat(out.slice(first), size);
      out.length = first;
      out.push(joined);
    }
    return size;
  }

  /**
   * Appends `input[from, to)` and then `inserted` (a doubled dot or a repaired line end) to the
   * chunk's pieces; once they turn dense (see `DENSE_AFTER`) both are copied into blocks instead.
   */
  #insert(input: Buffer, from: number, to: number, inserted: Buffer): void {
    const dense = this.#dense;
    if (dense) {
      if (to > from) dense.copy(input, from, to);
      dense.insert(inserted);
      return;
    }
    const out = this.#out;
    if (to > from) out.push(input.subarray(from, to));
    if (out.push(inserted) >= this.#checkAt) {
      this.#dense = DenseOutput.from(out, this.#first);
      this.#checkAt = this.#dense ? Infinity : out.length + DENSE_AFTER;
    }
  }

  /**
   * A whole in-memory message as pieces appended to `out` (as `encodeInto`: views of `input`
   * and shared constants), with its final CRLF (if missing) and, when dots are stuffed (DATA), the
   * `.` line; returns the number of bytes appended, the `.` line included. (BDAT has no end marker.)
   */
  encodeWholeInto(input: Buffer, out: Buffer[]): number {
    const size = this.encodeInto(input, out) + this.finishInto(out);
    if (!this.#dots) return size;
    out.push(END_OF_DATA);
    return size + END_OF_DATA.length;
  }

  /** `encodeWholeInto` as one buffer. */
  encodeWithEnd(input: Buffer): Buffer {
    const parts: Buffer[] = [];
    const size = this.encodeWholeInto(input, parts);
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
