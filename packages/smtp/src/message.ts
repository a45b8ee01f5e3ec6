/**
 * What `send` accepts: a raw RFC 5322 message (string, bytes or a Readable) or a simple object
 * composed by nodemailer's MailComposer, streamed. The envelope comes from the caller or, for
 * composed messages, from from/to/cc/bcc (Bcc is in the envelope, never in the headers).
 */
import { createRequire } from "node:module";
import { isAscii } from "node:buffer";
import { Readable } from "node:stream";
import type MailComposerClass from "nodemailer/lib/mail-composer";
import type { MailComposerOptions } from "nodemailer/lib/mail-composer";
import type addressparserFn from "nodemailer/lib/addressparser";

// nodemailer's composer is loaded on first use: most sends are raw messages, and loading it costs
// ~20 ms of synchronous module evaluation (an event-loop stall in a process that only sends raw).
const require = createRequire(import.meta.url);
let composer: typeof MailComposerClass | undefined;
let parser: typeof addressparserFn | undefined;
const MailComposer = (): typeof MailComposerClass => (composer ??= require("nodemailer/lib/mail-composer") as typeof MailComposerClass);
const addressparser = (): typeof addressparserFn => (parser ??= require("nodemailer/lib/addressparser") as typeof addressparserFn);

/** A raw RFC 5322 message. Line endings are normalised and dots stuffed while sending. */
export type RawMessage = string | Uint8Array | Readable;

/** A message to compose: MailComposer's options (from, to, cc, bcc, subject, text, html, attachments, headers, ...). */
export type MessageObject = MailComposerOptions;

export type Message = RawMessage | MessageObject;

/** The SMTP envelope. `from` may be `""` for the null reverse-path (bounces). */
export interface Envelope {
  readonly from: string;
  readonly to: readonly string[];
}

/** Per-message options of `SmtpClient.send`. */
export interface SendOptions {
  /**
   * Size in octets of a message given as a stream (a file's size), declared up front as
   * `MAIL FROM:<..> SIZE=n` (RFC 1870) so that a server refuses a message that is too large before
   * it is uploaded. Ignored for strings and bytes, whose size is known.
   */
  readonly size?: number;
}

/** A message ready to stream. */
export interface PreparedMessage {
  readonly envelope: Envelope;
  /** A fresh stream of the message bytes. */
  readonly body: Readable;
  /**
   * The whole message, when it was given in memory (string or bytes): the client then encodes
   * and writes it in one piece instead of streaming `body`. Undefined for streams and composed
   * messages.
   */
  readonly bytes?: Buffer;
  /** Size in octets when known before sending (SIZE=). */
  readonly size: number | undefined;
  /** True when the body may contain 8-bit bytes (BODY=8BITMIME); undefined when unknown (a stream). */
  readonly eightBit: boolean | undefined;
}

function isRaw(message: Message): message is RawMessage {
  return typeof message === "string" || message instanceof Uint8Array || message instanceof Readable;
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;

function has8Bit(bytes: Buffer): boolean {
  // Native (SIMD) scan of the bytes; no string copy.
  return !isAscii(bytes);
}

/** Addresses from header values of a raw message (used when a raw string/Buffer comes without an envelope). */
function headerAddresses(raw: string): Envelope | undefined {
  const end = raw.search(/\r?\n\r?\n/);
  const head = (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, " ");
  const fields = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/)) {
    const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
    if (m) fields.set(m[1]!.toLowerCase(), [...(fields.get(m[1]!.toLowerCase()) ?? []), m[2]!]);
  }
  const list = (name: string) => (fields.get(name) ?? []).flatMap((v) => addressparser()(v, { flatten: true }).map((a) => a.address ?? "")).filter((a) => a);
  const from = list("sender")[0] ?? list("from")[0];
  const to = [...list("to"), ...list("cc"), ...list("bcc")];
  return from !== undefined && to.length ? { from, to } : undefined;
}

/**
 * Prepares `message` for sending. A raw Readable needs an explicit envelope; a raw string or
 * Buffer without one takes it from its Sender/From and To/Cc/Bcc headers.
 */
export function prepareMessage(message: Message, envelope?: Envelope): PreparedMessage {
  if (isRaw(message)) {
    if (message instanceof Readable) {
      if (!envelope) throw new TypeError("A message given as a stream needs an explicit envelope { from, to }.");
      return { envelope, body: message, size: undefined, eightBit: undefined };
    }
    const bytes = typeof message === "string" ? Buffer.from(message, "utf8") : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    const env = envelope ?? headerAddresses(bytes.toString("utf8"));
    if (!env) throw new TypeError("No envelope given, and the message headers name no sender and recipients.");
    return {
      envelope: env,
      // A getter: the stream is only built for callers that read it (the client uses `bytes`).
      get body() {
        return Readable.from([bytes]);
      },
      bytes,
      size: bytes.length,
      eightBit: has8Bit(bytes),
    };
  }
  const node = new (MailComposer())(message).compile();
  const derived = node.getEnvelope();
  const env: Envelope = envelope ?? { from: derived.from || "", to: derived.to };
  // MailComposer encodes non-ASCII content (quoted-printable/base64): the body is 7-bit.
  return { envelope: env, body: node.createReadStream(), size: undefined, eightBit: false };
}

/** True when an address needs SMTPUTF8 (RFC 6531): any non-ASCII character. */
export function needsSmtpUtf8(address: string): boolean {
  return NON_ASCII.test(address);
}

/** No white space (CR and LF included), angle bracket, quote or NUL, at most 320 characters: nothing below can object. */
// eslint-disable-next-line no-control-regex
const PLAIN_ADDRESS = /^[^\s<>"\0]{0,320}$/;

/**
 * Checks an envelope address before it goes on a command line: no CR, LF, NUL, angle brackets or
 * spaces outside quotes (SMTP command injection). Returns a reason, or undefined when fine.
 */
export function addressProblem(address: string): string | undefined {
  if (PLAIN_ADDRESS.test(address)) return undefined; // the usual case, in one scan
  if (/[\r\n\0]/.test(address)) return "contains a line break or NUL";
  if (/[<>]/.test(address)) return "contains an angle bracket";
  if (address.length > 320) return "is longer than 320 characters";
  if (/\s/.test(address.replace(/"[^"]*"/g, ""))) return "contains white space";
  return undefined;
}
