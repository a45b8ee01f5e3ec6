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
const DOTDOT = Buffer.from("..");
const ONE_DOT = Buffer.from(".");
const LF_DOT = Buffer.from("\n.");
/** A CR not followed by LF, or an LF not preceded by CR: the chunk needs line-end repair. */
const BARE_LINE_END = /\r(?!\n)|(?<!\r)\n/;

/**
 * The encoder without a stream around it: `encode` each chunk in order, then `finish`. The client
 * uses it directly (a Transform per message costs more than encoding a small message).
 */
export class DotEncoder {
  #atLineStart = true;
  #pendingCR = false;

  /** The bytes that end the body: CRLF when the last line had no line end, else nothing. */
  finish(): Buffer {
    if (this.#pendingCR || this.#atLineStart) {
      this.#pendingCR = false;
      return Buffer.alloc(0);
    }
    this.#atLineStart = true;
    return CRLF;
  }

  /** Encodes one chunk, carrying state to the next. Public for tests and for in-memory use. */
  encode(input: Buffer): Buffer {
    if (input.length === 0) return input;
    // Fast path (messages with CRLF line ends, the usual case): one native regex scan proves there
    // is nothing to repair, then only the dots after a line end are stuffed, found with indexOf.
    // ~5x the byte loop below, which remains for bare CR/LF and a CR split across chunks.
    if (!this.#pendingCR && !BARE_LINE_END.test(input.toString("latin1"))) return this.#stuffDots(input);
    return this.#encodeSlow(input);
  }

  #stuffDots(input: Buffer): Buffer {
    let parts: Buffer[] | undefined;
    let from = 0;
    if (this.#atLineStart && input[0] === DOT) parts = [ONE_DOT];
    for (let i = input.indexOf(LF_DOT); i >= 0; i = input.indexOf(LF_DOT, from)) {
      (parts ??= []).push(input.subarray(from, i + 1), ONE_DOT);
      from = i + 1;
    }
    this.#atLineStart = input[input.length - 1] === LF;
    if (!parts) return input;
    parts.push(input.subarray(from));
    return Buffer.concat(parts);
  }

  /** A whole in-memory message, stuffed, with its final CRLF (if missing) and the `.` line. */
  encodeWithEnd(input: Buffer): Buffer {
    const body = this.encode(input);
    const tail = this.finish();
    const out = Buffer.allocUnsafe(body.length + tail.length + 3);
    body.copy(out, 0);
    tail.copy(out, body.length);
    out.write(".\r\n", body.length + tail.length, "latin1");
    return out;
  }

  #encodeSlow(input: Buffer): Buffer {
    const parts: Buffer[] = [];
    let from = 0;
    for (let i = 0; i < input.length; i++) {
      const b = input[i]!;
      if (this.#pendingCR) {
        // The CR was emitted as a line end already; a following LF is its partner.
        this.#pendingCR = false;
        if (b === LF) {
          from = i + 1;
          continue;
        }
      }
      if (this.#atLineStart && b === DOT) {
        parts.push(input.subarray(from, i), DOTDOT);
        from = i + 1;
        this.#atLineStart = false;
        continue;
      }
      if (b === CR || b === LF) {
        parts.push(input.subarray(from, i), CRLF);
        from = i + 1;
        this.#atLineStart = true;
        if (b === CR) this.#pendingCR = true;
        continue;
      }
      this.#atLineStart = false;
    }
    if (from < input.length) parts.push(input.subarray(from));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
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
