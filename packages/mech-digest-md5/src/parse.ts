/**
 * The DIGEST-MD5 message syntax (RFC 2831 §7.1, RFC 2616 §2.2): a comma-separated list of
 * `name=value` directives, where a value is a token or a quoted-string with backslash escapes.
 *
 * Values are kept as binary strings (one char per octet, "latin1"), never decoded here: the
 * realm and the nonce are hashed exactly as the server sent them, and whether the user name is
 * UTF-8 or ISO 8859-1 depends on the `charset` directive. The parser is linear in its input and
 * refuses (with the caller's code) anything the grammar does not allow.
 */

/** One directive: the name in lower case, the value unquoted and unescaped, as octets. */
export interface Directive {
  readonly name: string;
  readonly value: string;
  readonly quoted: boolean;
}

/** Why a message does not parse, as a sentence fragment ("value of realm is not terminated"). */
export class DirectiveSyntaxError extends Error {}

const SEPARATORS = new Set('()<>@,;:\\"/[]?={} \t');

function isTokenChar(c: number): boolean {
  return c > 0x20 && c < 0x7f && !SEPARATORS.has(String.fromCharCode(c));
}

/** Linear white space between elements (RFC 2616 LWS; CR and LF are tolerated only here). */
function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Parses `bytes` into directives, in order, duplicates kept. Throws `DirectiveSyntaxError`. */
export function parseDirectives(bytes: Uint8Array): Directive[] {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  const out: Directive[] = [];
  let i = 0;
  const skipLws = (): void => {
    while (i < s.length && isLws(s.charCodeAt(i))) i++;
  };
  for (;;) {
    // "#" lists allow empty elements: skip white space and stray commas.
    while (i < s.length && (isLws(s.charCodeAt(i)) || s[i] === ",")) i++;
    if (i >= s.length) return out;
    const nameStart = i;
    while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
    if (i === nameStart) throw new DirectiveSyntaxError(`a directive name was expected at offset ${i}`);
    const name = s.slice(nameStart, i).toLowerCase();
    skipLws();
    if (s[i] !== "=") throw new DirectiveSyntaxError(`directive ${name} has no "=" and value`);
    i++;
    skipLws();
    let value: string;
    let quoted = false;
    if (s[i] === '"') {
      quoted = true;
      i++;
      const parts: string[] = [];
      let runStart = i;
      for (;;) {
        if (i >= s.length) throw new DirectiveSyntaxError(`the quoted value of ${name} is not terminated`);
        const c = s.charCodeAt(i);
        if (c === 0x22) break;
        if (c === 0x5c) {
          if (i + 1 >= s.length) throw new DirectiveSyntaxError(`the quoted value of ${name} ends with a lone backslash`);
          parts.push(s.slice(runStart, i));
          i++;
          const escaped = s.charCodeAt(i);
          if (escaped > 0x7f || (escaped < 0x20 && escaped !== 0x09) || escaped === 0x7f) {
            throw new DirectiveSyntaxError(`the quoted value of ${name} escapes a control or non-ASCII octet`);
          }
          runStart = i;
          i++;
          continue;
        }
        // qdtext: any octet but CTLs (tab allowed) and the quote.
        if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw new DirectiveSyntaxError(`the quoted value of ${name} holds a control character`);
        i++;
      }
      parts.push(s.slice(runStart, i));
      i++; // closing quote
      value = parts.join("");
    } else {
      const start = i;
      while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
      if (i === start) throw new DirectiveSyntaxError(`directive ${name} has an empty or malformed value`);
      value = s.slice(start, i);
    }
    out.push({ name, value, quoted });
    skipLws();
    if (i < s.length && s[i] !== ",") throw new DirectiveSyntaxError(`a comma was expected after the value of ${name}`);
  }
}

/** Quotes a binary string as an RFC 2616 quoted-string (backslash before `"` and `\`). */
export function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Groups directives by name. Names in `once` may appear at most once (RFC 2831: "if multiple
 * instances are present, the client should abort"); others keep every value, in order.
 * Throws `DirectiveSyntaxError` naming the duplicate.
 */
export function groupDirectives(directives: readonly Directive[], once: ReadonlySet<string>): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const d of directives) {
    const list = byName.get(d.name);
    if (list === undefined) byName.set(d.name, [d.value]);
    else if (once.has(d.name)) throw new DirectiveSyntaxError(`directive ${d.name} appears more than once`);
    else list.push(d.value);
  }
  return byName;
}

/** Splits a qop-options / cipher-opts value (`"auth,auth-int"`) into lower-case tokens. */
export function splitTokenList(value: string): string[] {
  return value
    .split(",")
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== "");
}
