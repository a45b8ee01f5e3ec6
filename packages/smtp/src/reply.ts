/**
 * SMTP replies (RFC 5321 §4.2) and EHLO capabilities (RFC 5321 §4.1.1.1), parsed strictly.
 *
 * A reply is one or more lines `NNN-text` ending with `NNN text` (or a bare `NNN`). Every line
 * must carry the same code; anything else is a `MalformedReplyError`. An RFC 3463 enhanced status
 * code at the start of the first line's text is split out when its class matches the reply's.
 */
import { normalizeMechanismName } from "@saslkit/core";

/** One complete SMTP reply. */
export interface SmtpReply {
  /** The three-digit reply code. */
  readonly code: number;
  /** RFC 3463 enhanced status code (`5.7.8`), when the server sent one. */
  readonly enhanced?: string;
  /** The raw lines, verbatim, without CRLF (`250-mx.example.com`, `250 SIZE 1000`). */
  readonly lines: readonly string[];
  /** The text of every line (after `NNN-` / `NNN `), verbatim, joined with `\n`. */
  readonly text: string;
  /**
   * True when the reply was longer than `MAX_REPLY_BYTES`: `lines` and `text` then hold its
   * first lines only (the rest was read, checked and dropped, as Postfix's smtp client does).
   */
  readonly truncated?: true;
}

/** A line that is not a valid reply line, or a code that changed inside a multi-line reply. */
export class MalformedReplyError extends Error {
  override readonly name = "MalformedReplyError";
  /** The whole offending line, when the message quotes it (kept private: it may echo a secret). */
  readonly #quoted: string | undefined;

  constructor(
    message: string,
    /** The offending line, truncated to 200 characters. */
    readonly line: string,
    quoted?: string,
  ) {
    super(message);
    this.#quoted = quoted;
  }

  /**
   * The message with the quoted line passed through `redact` before it is shortened: a cut made
   * first could leave part of an echoed secret that the redactor no longer recognises.
   */
  redactedMessage(redact: (text: string) => string): string {
    return this.#quoted === undefined ? redact(this.message) : notAReply(showLine(redact(this.#quoted)));
  }
}

const notAReply = (shown: string): string => `The server sent a line that is not an SMTP reply: "${shown}".`;

const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;

/** Most lines accepted in one reply (an EHLO list is a few dozen). */
export const MAX_REPLY_LINES = 1000;

/**
 * Characters of reply lines kept per reply (the first line is always kept whole). Later lines
 * are still read and checked, then dropped: a hostile 1000-line, 64 KiB-per-line EHLO reply
 * costs one pass over its bytes and keeps 64 KiB, not 64 MiB (Postfix's smtp client keeps the
 * first `line_length_limit` bytes of a reply the same way).
 */
export const MAX_REPLY_BYTES = 64 * 1024;

/**
 * Accumulates lines into a reply. `push` returns the reply after its last line, undefined while
 * more lines are due, and throws `MalformedReplyError` on a bad line.
 */
export class ReplyParser {
  #code: number | undefined;
  #lines: string[] = [];
  /** Lines seen in this reply (kept or not) and characters kept. */
  #count = 0;
  #kept = 0;
  #truncated = false;

  push(line: string): SmtpReply | undefined {
    // `NNN`, `NNN text` or `NNN-text` with NNN in 200..599: checked by character codes (this runs
    // for every reply line; a regex match array per line showed in profiles).
    const c0 = line.charCodeAt(0);
    const c1 = line.charCodeAt(1);
    const c2 = line.charCodeAt(2);
    const sep = line.length === 3 ? 0x20 : line.charCodeAt(3);
    if (!(c0 >= 0x32 && c0 <= 0x35 && c1 >= 0x30 && c1 <= 0x39 && c2 >= 0x30 && c2 <= 0x39 && (sep === 0x20 || sep === 0x2d))) throw notAReplyLine(line);
    const code = (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
    // The usual reply is one line: no state to keep.
    if (this.#count === 0 && sep === 0x20) return makeReply(code, [line], false);
    if (this.#code !== undefined && code !== this.#code) throw codeChanged(this.#code, code, line);
    this.#code = code;
    this.#count++;
    if (this.#count === 1 || this.#kept + line.length <= MAX_REPLY_BYTES) {
      this.#lines.push(line);
      this.#kept += line.length;
    } else this.#truncated = true;
    if (sep === 0x2d) {
      if (this.#count >= MAX_REPLY_LINES) throw new MalformedReplyError(`The server sent a reply longer than ${MAX_REPLY_LINES} lines.`, showLine(line));
      return undefined;
    }
    // The array goes to the reply as it is; the next reply gets a fresh one.
    const reply = makeReply(code, this.#lines, this.#truncated);
    this.#code = undefined;
    this.#lines = [];
    this.#count = 0;
    this.#kept = 0;
    this.#truncated = false;
    return reply;
  }
}

/** A line that is not `NNN`, `NNN text` or `NNN-text` with NNN in 200..599. */
function notAReplyLine(line: string): MalformedReplyError {
  const shown = showLine(line);
  return new MalformedReplyError(notAReply(shown), shown, line);
}

function codeChanged(was: number, code: number, line: string): MalformedReplyError {
  return new MalformedReplyError(`The server changed the reply code inside a multi-line reply (${was} then ${code}).`, showLine(line));
}

const showLine = (line: string): string => (line.length > 200 ? `${line.slice(0, 200)}…` : line);

function makeReply(code: number, lines: readonly string[], truncated: boolean): SmtpReply {
  const first = textOf(lines[0]!);
  const text = lines.length === 1 ? first : lines.map(textOf).join("\n");
  const length = enhancedLength(first, (code / 100) | 0);
  const reply: SmtpReply = length ? { code, enhanced: first.slice(0, length), lines, text } : { code, lines, text };
  return truncated ? { ...reply, truncated: true } : reply;
}

/** A reply line's text: what follows `NNN-` or `NNN `. */
const textOf = (line: string): string => (line.length > 4 ? line.slice(4) : "");

/**
 * The length of an RFC 3463 enhanced status code (`class.subject.detail`, each of 1-3 digits, class
 * the reply's own) at the start of `text`, followed by a space or the end; 0 when there is none.
 * One anchored regex test (no match array) and an indexOf: this runs for every reply.
 */
function enhancedLength(text: string, replyClass: number): number {
  if (replyClass === 3 || text.charCodeAt(0) - 0x30 !== replyClass || !ENHANCED_CODE.test(text)) return 0; // RFC 3463 classes: 2, 4, 5
  const space = text.indexOf(" ");
  return space < 0 ? text.length : space;
}

const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3}(?: |$)/;

/** Parses a whole reply from its lines (tests, recorded transcripts). Throws when incomplete or malformed. */
export function parseReply(lines: readonly string[]): SmtpReply {
  const parser = new ReplyParser();
  for (const [i, line] of lines.entries()) {
    const reply = parser.push(line);
    if (reply) {
      if (i !== lines.length - 1) throw new MalformedReplyError("Lines follow the last line of the reply.", lines[i + 1] ?? "");
      return reply;
    }
  }
  throw new MalformedReplyError("The reply has no last line.", lines[lines.length - 1] ?? "");
}

/** The reply's text without the enhanced code of its first line, lines joined with a space. */
export function replyMessage(reply: SmtpReply): string {
  const text = reply.enhanced ? reply.text.replace(ENHANCED, "").replace(/^ /, "") : reply.text;
  return text.replace(/\n/g, " ").trim();
}

/** One line for error messages: `535 5.7.8 Authentication credentials invalid`. */
export function formatReply(reply: SmtpReply): string {
  return [String(reply.code), reply.enhanced, replyMessage(reply)].filter((p) => p).join(" ");
}

/** What the server advertised in its EHLO reply. */
export interface SmtpCapabilities {
  /** The first line's text (the server's name and greeting). */
  readonly greeting: string;
  /** Every keyword, upper case, with its parameters as sent. */
  readonly keywords: ReadonlyMap<string, readonly string[]>;
  /** SASL mechanisms from `AUTH ...`, legacy `AUTH=...` and Exchange `X-EXPS ...` lines: union, upper case, first-seen order. */
  readonly auth: readonly string[];
  /** SIZE limit in octets; 0 when the server gave no number; undefined without SIZE. */
  readonly size: number | undefined;
  readonly pipelining: boolean;
  readonly eightBitMime: boolean;
  readonly smtpUtf8: boolean;
  readonly enhancedStatusCodes: boolean;
  readonly startTls: boolean;
  readonly chunking: boolean;
  readonly dsn: boolean;
  /** True when the server answered HELO (no extensions at all). */
  readonly helo: boolean;
  /** Exact keyword test, case-insensitive: `has("PLAIN")` is not satisfied by `PLAIN-CLIENTTOKEN`. */
  has(keyword: string): boolean;
}

/** Distinct EHLO keywords kept (a real server sends about 15). */
export const MAX_KEYWORDS = 128;
/** Parameters kept per keyword, and SASL mechanisms kept from AUTH lines. */
export const MAX_PARAMS = 128;

/** White space between EHLO tokens. */
const SPACE = /[ \t]+/;

/**
 * The tokens of one EHLO line, at most `max` (the rest of a hostile line is never split). Native
 * string operations, not a character loop: a loop in a function run once per connection makes V8
 * compile it with its optimizing compiler early, which costs a short-lived process (a CLI, a cron
 * job) more than it ever saves.
 */
function tokens(text: string, max: number): string[] {
  const t = text.trim();
  return t === "" ? [] : t.split(SPACE, max);
}

/** An ehlo-keyword (RFC 5321 §4.1.1.1), given in upper case. */
const KEYWORD = /^[A-Z0-9][A-Z0-9-]*$/;

/**
 * Parses an EHLO reply (or marks a HELO one) into capabilities. Keywords are tokenised exactly.
 * Linear in the reply's length and bounded: at most `MAX_KEYWORDS` keywords and `MAX_PARAMS`
 * parameters each (and `MAX_PARAMS` mechanisms), duplicates dropped through a set; a keyword
 * repeated on many lines appends to one list (Go's net/textproto keeps extensions in a map too).
 */
export function parseCapabilities(reply: SmtpReply, helo = false): SmtpCapabilities {
  // A server says the same EHLO to every connection: its parse is kept (a pure function of the
  // lines, frozen, so connections may share it) for a few short replies. After STARTTLS the reply
  // is parsed (or found) again from what was said over TLS, as before.
  if (helo) return parseFresh(reply, true);
  // The parse reads only each line's text, so the joined text is its key.
  const key = reply.text;
  if (key.length > PARSED_KEY_BYTES) return parseFresh(reply, false);
  let parsed = parsedReplies.get(key);
  if (parsed === undefined) {
    parsed = parseFresh(reply, false);
    if (parsedReplies.size >= PARSED_KEPT) parsedReplies.delete(parsedReplies.keys().next().value as string);
    parsedReplies.set(key, parsed);
  }
  return parsed;
}

/** EHLO replies whose parse is kept, and the longest one kept (in characters). */
const PARSED_KEPT = 16;
const PARSED_KEY_BYTES = 4096;
const parsedReplies = new Map<string, SmtpCapabilities>();

/** A Map that refuses changes once built: parsed capabilities are shared between connections. */
class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;
  seal(): this {
    this.#sealed = true;
    return this;
  }
  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError("SMTP capabilities are read-only.");
    return super.set(key, value);
  }
  override delete(key: K): boolean {
    if (this.#sealed) throw new TypeError("SMTP capabilities are read-only.");
    return super.delete(key);
  }
  override clear(): void {
    if (this.#sealed) throw new TypeError("SMTP capabilities are read-only.");
    super.clear();
  }
}

function parseFresh(reply: SmtpReply, helo: boolean): SmtpCapabilities {
  // Each line's text is the line after "NNN-" / "NNN " (kept lines only: a truncated reply's
  // dropped lines advertise nothing).
  const lines = reply.lines;
  const keywords = new FrozenMap<string, string[]>();
  const auth: string[] = [];
  const addAuth = (names: readonly string[], from: number) => {
    for (let i = from; i < names.length && auth.length < MAX_PARAMS; i++) {
      const n = normalizeMechanismName(names[i]!);
      if (n && !auth.includes(n)) auth.push(n);
    }
  };
  if (!helo) {
    for (let l = 1; l < lines.length; l++) {
      const words = tokens(lines[l]!.slice(4), MAX_PARAMS + 1);
      const first = words[0];
      if (!first) continue;
      if (first.length >= 5 && first.charCodeAt(4) === 0x3d && first.slice(0, 5).toUpperCase() === "AUTH=") {
        // Legacy `AUTH=LOGIN PLAIN` (pre-RFC 4954 Outlook clients): the same list, another spelling.
        words[0] = first.slice(5);
        addAuth(words, 0);
        continue;
      }
      const keyword = first.toUpperCase();
      if (!KEYWORD.test(keyword)) continue; // not an ehlo-keyword (RFC 5321 §4.1.1.1)
      let params = keywords.get(keyword);
      if (!params) {
        if (keywords.size >= MAX_KEYWORDS) continue;
        params = [];
        keywords.set(keyword, params);
      }
      for (let i = 1; i < words.length && params.length < MAX_PARAMS; i++) params.push(words[i]!);
      // Exchange's `X-EXPS GSSAPI NTLM` lists mechanisms too (MailKit reads it as AUTH); union them.
      if (keyword === "AUTH" || keyword === "X-EXPS") addAuth(words, 1);
    }
  }
  if (auth.length && !keywords.has("AUTH")) keywords.set("AUTH", []);
  const sizeParam = keywords.get("SIZE");
  const size = sizeParam === undefined ? undefined : /^\d+$/.test(sizeParam[0] ?? "") ? Number(sizeParam[0]) : 0;
  for (const params of keywords.values()) Object.freeze(params);
  return Object.freeze({
    greeting: lines.length ? lines[0]!.slice(4) : "",
    keywords: keywords.seal(),
    auth: Object.freeze(auth),
    size,
    pipelining: keywords.has("PIPELINING"),
    eightBitMime: keywords.has("8BITMIME"),
    smtpUtf8: keywords.has("SMTPUTF8"),
    enhancedStatusCodes: keywords.has("ENHANCEDSTATUSCODES"),
    startTls: keywords.has("STARTTLS"),
    chunking: keywords.has("CHUNKING"),
    dsn: keywords.has("DSN"),
    helo,
    has: (k: string) => keywords.has(k.toUpperCase()),
  });
}
