/**
 * POP3 replies (RFC 1939 §3, RFC 2449 §8 extended response codes, RFC 5034 continuations):
 * pure functions over lines.
 */
import type { Pop3Reply } from "./errors.js";

/** One line from the server, classified. */
export type Pop3Line =
  | { readonly kind: "status"; readonly reply: Pop3Reply }
  /** `+ base64` (or a bare `+`) during AUTH: the text after `+ `. */
  | { readonly kind: "continuation"; readonly text: string }
  | { readonly kind: "invalid"; readonly raw: string };

/** Classifies a reply line. `+OK`/`-ERR` are matched case-insensitively as RFC 1939 allows none other. */
export function parseLine(line: string): Pop3Line {
  const m = /^(\+OK|-ERR)(?:[ \t](.*))?$/i.exec(line);
  if (m) {
    const status = m[1]!.toUpperCase() as Pop3Reply["status"];
    const rest = m[2] ?? "";
    const code = /^\[([^\]\s]+)\]\s?(.*)$/.exec(rest);
    return {
      kind: "status",
      reply: code ? { status, code: code[1]!.toUpperCase(), text: code[2]!, raw: line } : { status, text: rest, raw: line },
    };
  }
  if (line === "+" || line.startsWith("+ ")) return { kind: "continuation", text: line.slice(2) };
  return { kind: "invalid", raw: line };
}

/** Undoes dot-stuffing of one multi-line body line (RFC 1939 §3), text or bytes; undefined for the terminating `.`. */
export function unstuff<T extends string | Buffer>(line: T): T | undefined {
  const dot = typeof line === "string" ? line.startsWith(".") : line[0] === 0x2e;
  if (!dot) return line;
  if (line.length === 1) return undefined;
  return (typeof line === "string" ? line.slice(1) : line.subarray(1)) as T;
}

/**
 * The APOP timestamp (`<...@...>`) of a greeting, if any (RFC 1939 §7): the first `<`, then no
 * `<`, `>` or white space up to a `>`, with an `@` inside. A scan, not a regular expression: the
 * pattern `<[^<>\s]*@[^<>\s]*>` backtracks quadratically on `<@@@@...` (3 s on a 64 KiB greeting);
 * this is one pass over the text whatever it holds.
 */
export function apopTimestamp(greetingText: string): string | undefined {
  const text = greetingText;
  let start = text.indexOf("<");
  while (start >= 0) {
    let at = false;
    let i = start + 1;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x3e /* > */) {
        if (at) return text.slice(start, i + 1);
        break;
      }
      if (c === 0x3c /* < */ || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c || c === 0xa0 || (c > 0x7f && /\s/.test(text[i]!))) break;
      if (c === 0x40 /* @ */) at = true;
    }
    // Everything up to i belongs to no timestamp; a `<` at i may start one.
    start = text.indexOf("<", text.charCodeAt(i) === 0x3c ? i : i + 1);
  }
  return undefined;
}
