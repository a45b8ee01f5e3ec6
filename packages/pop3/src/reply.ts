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

/** Undoes dot-stuffing of one multi-line body line (RFC 1939 §3); undefined for the terminating `.`. */
export function unstuff(line: string): string | undefined {
  if (line === ".") return undefined;
  return line.startsWith(".") ? line.slice(1) : line;
}

/** The APOP timestamp (`<...@...>`) of a greeting, if any (RFC 1939 §7). */
export function apopTimestamp(greetingText: string): string | undefined {
  const m = /<[^<>\s]*@[^<>\s]*>/.exec(greetingText);
  return m ? m[0] : undefined;
}
