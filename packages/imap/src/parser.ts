/**
 * IMAP response parsing (RFC 9051 §7, RFC 3501 §7): pure functions over lines and literal bytes.
 *
 * The reader hands `parseResponse` one logical response as `parts`: the text of each physical
 * line, interleaved with the bytes of the `{n}` literals that ended the previous line. The
 * tokenizer turns the rest of a response into `ImapValue`s: atoms and quoted strings become
 * strings, literals become `Uint8Array`, `NIL` becomes null, parenthesised lists become arrays.
 */

/** One token of an IMAP response. Atoms keep their spelling (`\Seen`, `BODY[HEADER]`). */
export type ImapValue = string | null | Uint8Array | readonly ImapValue[];

/** A response code, `[CODE args]` at the start of resp-text (RFC 9051 §7.1). */
export interface ResponseCode {
  /** Upper-case code name (`AUTHENTICATIONFAILED`, `CAPABILITY`, `UIDVALIDITY`). */
  readonly name: string;
  /** Everything after the name up to the closing `]`, verbatim ("" when none). */
  readonly args: string;
}

/** `+ text`: a command continuation request; `text` is everything after `+` and one space. */
export interface ContinuationResponse {
  readonly kind: "continuation";
  readonly text: string;
}

/** `* ...`: an untagged response. */
export interface UntaggedResponse {
  readonly kind: "untagged";
  /** Upper-case response name: `OK`, `NO`, `BAD`, `BYE`, `PREAUTH`, `CAPABILITY`, `EXISTS`, `FETCH`, ... */
  readonly type: string;
  /** The number before the name (`* 23 EXISTS` → 23), when there is one. */
  readonly number?: number;
  /** For OK/NO/BAD/BYE/PREAUTH: the response code, if any. */
  readonly code?: ResponseCode;
  /** For OK/NO/BAD/BYE/PREAUTH: the human-readable text after the code. */
  readonly text?: string;
  /** The data after the name, tokenized (for CAPABILITY: the capability atoms). */
  readonly values: readonly ImapValue[];
  /** The response as received, literals shown as `{n}` (for logs and errors). */
  readonly raw: string;
}

/** `TAG OK|NO|BAD [code] text`: the completion of a command. */
export interface TaggedResponse {
  readonly kind: "tagged";
  readonly tag: string;
  readonly status: "OK" | "NO" | "BAD";
  readonly code?: ResponseCode;
  readonly text: string;
  readonly raw: string;
}

export type ImapResponse = ContinuationResponse | UntaggedResponse | TaggedResponse;

/**
 * Thrown by the parser on text the grammar does not allow. `line`, when given, is the offending
 * text, quoted (clipped) after `reason` in the message; `describe(redact)` builds the same message
 * with the line redacted before it is clipped, since a secret cut by the clip is no longer whole
 * and a redactor can no longer find it.
 */
export class ImapParseError extends Error {
  override readonly name = "ImapParseError";
  constructor(
    readonly reason: string,
    readonly line?: string,
  ) {
    super(line === undefined ? reason : quoted(reason, line));
  }

  describe(redact: (text: string) => string): string {
    return this.line === undefined ? this.reason : quoted(this.reason, redact(this.line));
  }
}

const quoted = (reason: string, line: string) => `${reason}: "${clip(line)}".`;

// Any number of digits: a longer announcement is refused by the byte limits, never read as text.
const LITERAL_AT_END = /\{(\d+)(\+?)\}$/;
const CONDITION = new Set(["OK", "NO", "BAD", "BYE", "PREAUTH"]);

/**
 * When `line` ends with a literal announcement `{n}` (or `~{n}` / `{n+}`), the number of bytes
 * that follow on the wire; otherwise undefined.
 */
export function literalLength(line: string): number | undefined {
  const m = LITERAL_AT_END.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Splits resp-text into its optional `[CODE args]` and the text after it. */
export function parseRespText(text: string): { code?: ResponseCode; text: string } {
  if (!text.startsWith("[")) return { text };
  const end = text.indexOf("]");
  if (end < 0) return { text };
  const inner = text.slice(1, end);
  const space = inner.indexOf(" ");
  const name = (space < 0 ? inner : inner.slice(0, space)).toUpperCase();
  const args = space < 0 ? "" : inner.slice(space + 1);
  return { code: { name, args }, text: text.slice(end + 1).replace(/^ /, "") };
}

/** Parses one response. `parts` alternates line text and literal bytes (see the module comment). */
export function parseResponse(parts: readonly (string | Uint8Array)[]): ImapResponse {
  const first = parts[0];
  if (typeof first !== "string") throw new ImapParseError("An IMAP response must start with text.");
  const raw = parts.map((p) => (typeof p === "string" ? p : `<${p.length} bytes>`)).join("");
  if (first === "+" || first.startsWith("+ ")) {
    return { kind: "continuation", text: first.slice(2) };
  }
  const space = first.indexOf(" ");
  if (space <= 0) throw new ImapParseError("Malformed IMAP response", first);
  const tag = first.slice(0, space);
  const rest = first.slice(space + 1);
  if (tag === "*") return parseUntagged(rest, parts.slice(1), raw);
  const m = /^(OK|NO|BAD)(?: (.*))?$/i.exec(rest);
  if (!m || parts.length > 1) throw new ImapParseError("Malformed tagged IMAP response", first);
  const { code, text } = parseRespText(m[2] ?? "");
  return { kind: "tagged", tag, status: m[1]!.toUpperCase() as TaggedResponse["status"], ...(code ? { code } : {}), text, raw };
}

function parseUntagged(rest: string, more: readonly (string | Uint8Array)[], raw: string): UntaggedResponse {
  let number: number | undefined;
  let body = rest;
  const num = /^(\d+) /.exec(body);
  if (num) {
    number = Number(num[1]);
    body = body.slice(num[0].length);
  }
  const sp = body.indexOf(" ");
  const type = (sp < 0 ? body : body.slice(0, sp)).toUpperCase();
  const after = sp < 0 ? "" : body.slice(sp + 1);
  if (!/^[A-Z0-9.=_-]+$/.test(type)) throw new ImapParseError("Malformed untagged IMAP response", rest);
  const base = { kind: "untagged" as const, type, ...(number !== undefined ? { number } : {}), raw };
  if (CONDITION.has(type) && number === undefined && more.length === 0) {
    const { code, text } = parseRespText(after);
    return { ...base, ...(code ? { code } : {}), text, values: [] };
  }
  // Tokenized on first use: a client that only waits for a tagged reply (a flood of untagged
  // data before authentication) never pays for the tokens of responses it discards.
  let values: ImapValue[] | undefined;
  return Object.defineProperty(base, "values", { enumerable: true, get: () => (values ??= tokenize([after, ...more])) }) as UntaggedResponse;
}

const clip = (s: string) => (s.length > 120 ? `${s.slice(0, 117)}...` : s);

/**
 * Tokenizes IMAP data: atoms, quoted strings (with `\"` and `\\` escapes), literals (the bytes that
 * follow a part ending in `{n}`), NIL and parenthesised lists. Atoms with brackets keep their
 * bracketed section, spaces included (`BODY[HEADER.FIELDS (FROM)]`).
 */
export function tokenize(parts: readonly (string | Uint8Array)[]): ImapValue[] {
  const stack: ImapValue[][] = [[]];
  const push = (v: ImapValue) => stack[stack.length - 1]!.push(v);
  for (let pi = 0; pi < parts.length; pi++) {
    const s = parts[pi];
    if (typeof s !== "string") throw new ImapParseError("A literal's bytes arrived without a {n} announcement.");
    let i = 0;
    while (i < s.length) {
      const c = s[i]!;
      if (c === " ") {
        i++;
      } else if (c === "(") {
        stack.push([]);
        i++;
      } else if (c === ")") {
        if (stack.length < 2) throw new ImapParseError("Unbalanced ')' in an IMAP response.");
        const list = stack.pop()!;
        push(list);
        i++;
      } else if (c === '"') {
        let out = "";
        i++;
        for (;;) {
          if (i >= s.length) throw new ImapParseError("Unterminated quoted string in an IMAP response.");
          const q = s[i]!;
          if (q === "\\") {
            const next = s[i + 1];
            if (next !== '"' && next !== "\\") throw new ImapParseError("Invalid escape in a quoted string.");
            out += next;
            i += 2;
          } else if (q === '"') {
            i++;
            break;
          } else {
            out += q;
            i++;
          }
        }
        push(out);
      } else if (c === "{" || (c === "~" && s[i + 1] === "{")) {
        const m = /^~?\{(\d+)\+?\}$/.exec(s.slice(i));
        if (!m) throw new ImapParseError("A literal announcement must end its line.");
        const bytes = parts[pi + 1];
        if (!(bytes instanceof Uint8Array) || bytes.length !== Number(m[1])) throw new ImapParseError("A literal's bytes are missing or of the wrong length.");
        push(bytes);
        pi++;
        i = s.length;
      } else {
        let j = i;
        let depth = 0;
        while (j < s.length) {
          const a = s[j]!;
          if (a === "[") depth++;
          else if (a === "]") depth = Math.max(0, depth - 1);
          else if (depth === 0 && (a === " " || a === "(" || a === ")" || a === '"')) break;
          else if (depth === 0 && a === "{") break;
          j++;
        }
        const atom = s.slice(i, j);
        push(atom.toUpperCase() === "NIL" ? null : atom);
        i = j;
      }
    }
  }
  if (stack.length !== 1) throw new ImapParseError("Unbalanced '(' in an IMAP response.");
  return stack[0]!;
}

/** The string value of a token (atom, quoted or literal), or undefined for NIL and lists. */
export function valueString(value: ImapValue | undefined): string | undefined {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8");
  return undefined;
}
