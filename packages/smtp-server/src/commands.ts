/**
 * Parsing of SMTP command lines (RFC 5321 §4.1) and of MAIL/RCPT paths and ESMTP parameters.
 * Pure functions, no I/O.
 */

export interface CommandLine {
  /** Upper-case verb ("EHLO", "MAIL"). */
  readonly verb: string;
  /** Everything after the verb and one space, verbatim. */
  readonly args: string;
}

/** Splits a command line into its verb and arguments. */
export function parseCommand(line: string): CommandLine {
  const space = line.indexOf(" ");
  const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  return { verb, args: space < 0 ? "" : line.slice(space + 1) };
}

export interface PathArgument {
  /** The mailbox without angle brackets and without a source route; "" for `<>`. */
  readonly address: string;
  /** ESMTP parameters, upper-case keys; a parameter without `=` maps to `true`. */
  readonly params: Record<string, string | true>;
}

/**
 * Parses `FROM:<a@b> SIZE=10` / `TO:<c@d>`. `keyword` is "FROM" or "TO". Returns a sentence
 * describing the syntax error instead when the argument is malformed. Tolerates a space after
 * the colon (common in the wild) but requires the angle brackets.
 */
export function parsePathArgument(args: string, keyword: "FROM" | "TO"): PathArgument | string {
  // RFC 5321 §4.1.2: atext, qtextSMTP and esmtp-value are printable; a NUL or an escape
  // sequence must not reach the envelope (the application's handler, its logs, a relay).
  if (hasControl(args)) return "Control character in the path or its parameters";
  const prefix = `${keyword}:`;
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) return `Syntax: ${keyword === "FROM" ? "MAIL FROM:<address>" : "RCPT TO:<address>"}`;
  let rest = args.slice(prefix.length).replace(/^ +/, "");
  if (!rest.startsWith("<")) return "Path must be enclosed in angle brackets";
  // Find the closing '>' outside a quoted local part.
  let end = -1;
  let quoted = false;
  for (let i = 1; i < rest.length; i++) {
    const ch = rest[i];
    if (ch === "\\" && quoted) {
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (ch === ">" && !quoted) {
      end = i;
      break;
    }
  }
  if (end < 0) return "Unterminated path";
  let address = rest.slice(1, end);
  // Drop an obsolete source route: <@a,@b:user@host> (RFC 5321 §4.1.2, "MUST accept and ignore").
  if (address.startsWith("@")) {
    const colon = address.indexOf(":");
    if (colon < 0) return "Malformed source route";
    address = address.slice(colon + 1);
  }
  if (address !== "" && !/^[^\s<>]+@[^\s<>@]+$|^"[^"]*"@[^\s<>@]+$/u.test(address)) {
    if (!(keyword === "TO" && /^postmaster$/i.test(address))) return "Malformed address";
  }
  rest = rest.slice(end + 1);
  const params: Record<string, string | true> = {};
  for (const token of rest.split(" ")) {
    if (token === "") continue;
    const eq = token.indexOf("=");
    const key = (eq < 0 ? token : token.slice(0, eq)).toUpperCase();
    if (!/^[A-Z0-9][A-Z0-9-]*$/.test(key)) return `Malformed parameter ${JSON.stringify(token.slice(0, 40))}`;
    params[key] = eq < 0 ? true : token.slice(eq + 1);
  }
  return { address, params };
}

/** True when `text` holds a C0 control character or DEL (none is valid in a path, a parameter or a HELO name). */
export function hasControl(text: string): boolean {
  return /[\x00-\x1f\x7f]/.test(text);
}

/** One SMTP reply as lines: `code[-| ]enhanced text`. Multi-line when `text` has several lines. */
export function formatReply(code: number, enhanced: string | undefined, text: string | readonly string[]): string {
  const lines = typeof text === "string" ? [text] : text;
  return lines
    .map((line, i) => `${code}${i < lines.length - 1 ? "-" : " "}${enhanced ? `${enhanced} ` : ""}${line}`.trimEnd())
    .join("\r\n");
}
