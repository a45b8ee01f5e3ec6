// Benchmark payloads and the helpers every runner shares: the 1 KiB message, the 100 MiB
// generated stream, dot-stuffing (for the raw client) and the expected body hashes.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";

export const FROM = "sender@example.test";
export const TO = "rcpt@example.test";

/**
 * A 1 KiB RFC 5322 message (CRLF line ends, ends with CRLF). Two lines start with "." so a
 * client that does not dot-stuff fails the hash check.
 */
export function smallMessage(size = 1024) {
  const head = `From: <${FROM}>\r\nTo: <${TO}>\r\nSubject: bench\r\nMessage-ID: <bench@example.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\r\n`;
  const lines = [".leading dot line\r\n", "..two dots\r\n"];
  let body = lines.join("");
  let n = 0;
  while (head.length + body.length < size - 80) body += `line ${String(n++).padStart(4, "0")} the quick brown fox jumps over the lazy dog 0123456789\r\n`;
  const last = "x".repeat(Math.max(0, size - head.length - body.length - 2)) + "\r\n";
  const text = head + body + last;
  return Buffer.from(text, "latin1");
}

/** Dot-stuffs a whole message held in memory (RFC 5321 §4.5.2). */
export function dotStuff(buf) {
  const parts = [];
  let from = 0;
  if (buf[0] === 0x2e) {
    parts.push(Buffer.from("."));
  }
  for (;;) {
    const i = buf.indexOf("\n.", from, "latin1");
    if (i < 0) break;
    parts.push(buf.subarray(from, i + 1), Buffer.from("."));
    from = i + 1;
  }
  parts.push(buf.subarray(from));
  return Buffer.concat(parts);
}

export const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

export const BIG_BLOCK = 64 * 1024;
export const BIG_BLOCKS = 1600; // 1600 x 64 KiB = 100 MiB

/** One 64 KiB block of the big message: 1024 lines of 64 bytes, every 64th starting with ".". */
function bigTemplate() {
  const b = Buffer.alloc(BIG_BLOCK);
  for (let l = 0; l < BIG_BLOCK / 64; l++) {
    const line = (l % 64 === 5 ? "." : "L") + `${String(l).padStart(4, "0")} `.padEnd(61, "abcdefghijklmnopqrstuvwxyz".at(l % 26)) + "\r\n";
    b.write(line, l * 64, "latin1");
  }
  return b;
}

/**
 * The 100 MiB message as a Readable that generates each 64 KiB block on demand (never the whole
 * message in memory). Each block is stamped with its index so reordering breaks the hash.
 * `onChunk` is called per block (RSS sampling).
 */
export function bigMessageStream({ blocks = BIG_BLOCKS, onChunk } = {}) {
  const template = bigTemplate();
  let i = 0;
  return new Readable({
    highWaterMark: BIG_BLOCK,
    read() {
      if (i >= blocks) {
        this.push(null);
        return;
      }
      const b = Buffer.allocUnsafe(BIG_BLOCK);
      template.copy(b);
      b.write(String(i).padStart(8, "0"), 1, "latin1");
      i++;
      onChunk?.();
      this.push(b);
    },
  });
}

/** sha256 of the big message as the sink must see it (after un-stuffing = the original). */
export async function bigMessageHash(blocks = BIG_BLOCKS) {
  const h = createHash("sha256");
  for await (const chunk of bigMessageStream({ blocks })) h.update(chunk);
  return h.digest("hex");
}

/**
 * A streaming dot-stuffer: yields the chunks to send for each input chunk, carrying whether
 * the previous chunk ended in LF. Zero copies for the body itself.
 */
export function createStuffer() {
  let atLineStart = true;
  const dot = Buffer.from(".");
  return (chunk) => {
    const out = [];
    let from = 0;
    if (atLineStart && chunk[0] === 0x2e) out.push(dot);
    for (;;) {
      const i = chunk.indexOf("\n.", from, "latin1");
      if (i < 0) break;
      out.push(chunk.subarray(from, i + 1), dot);
      from = i + 1;
    }
    out.push(chunk.subarray(from));
    atLineStart = chunk[chunk.length - 1] === 0x0a;
    return out;
  };
}
