/**
 * SCRAM message syntax (RFC 5802 §7): attribute lists, saslname escaping, strict base64, the
 * GS2 header. Pure string work; no crypto and no state.
 */

/** One `x=value` attribute of a SCRAM message. */
export interface Attribute {
  readonly key: string;
  readonly value: string;
}

/** Why a message could not be parsed (a sentence fragment; the caller wraps it in a SaslError). */
export class SyntaxProblem extends Error {}

/** The message asks for a mandatory extension (`m=`) that saslkit does not implement. */
export class MandatoryExtensionProblem extends SyntaxProblem {}

/** Escapes a saslname: `,` → `=2C`, `=` → `=3D` (RFC 5802 §5.1). */
export function escapeSaslname(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

/** Reverses `escapeSaslname`; any other `=` sequence is invalid (RFC 5802 `saslname`). */
export function unescapeSaslname(value: string): string {
  if (/=(?!2C|3D)/.test(value)) throw new SyntaxProblem("a name contains an '=' that is not '=2C' or '=3D'");
  return value.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

/** Splits `a=1,b=2` into attributes; every part must be a single letter, `=`, then a value. */
export function parseAttributes(text: string): Attribute[] {
  return text.split(",").map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new SyntaxProblem(`"${part.slice(0, 24)}" is not an attribute of the form x=value`);
    return { key: part[0] as string, value: part.slice(2) };
  });
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes canonical-alphabet base64 strictly (padding required); undefined when invalid or empty. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "base64"));
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** `printable` of RFC 5802: %x21-2B / %x2D-7E (visible ASCII except the comma). */
export function isPrintableNonce(nonce: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce);
}

/** The GS2 channel-binding flag: `n` (client cannot bind), `y` (client can, thinks the server cannot), or `p=<type>`. */
export type Gs2Flag = { readonly kind: "n" } | { readonly kind: "y" } | { readonly kind: "p"; readonly type: string };

/** Builds the GS2 header `flag,[a=authzid],` (RFC 5802 §7 `gs2-header`). */
export function gs2Header(flag: Gs2Flag, authzid: string | undefined): string {
  const f = flag.kind === "p" ? `p=${flag.type}` : flag.kind;
  return `${f},${authzid ? `a=${escapeSaslname(authzid)}` : ""},`;
}

/** A parsed client-first message. */
export interface ClientFirst {
  readonly flag: Gs2Flag;
  /** The authzid, unescaped; undefined when empty. */
  readonly authzid: string | undefined;
  /** The GS2 header exactly as sent (it goes into `c=`). */
  readonly header: string;
  /** client-first-message-bare exactly as sent (it goes into AuthMessage). */
  readonly bare: string;
  /** The user name, unescaped (not yet SASLprep'd). */
  readonly username: string;
  readonly nonce: string;
}

/** Parses a client-first message (server side). */
export function parseClientFirst(text: string): ClientFirst {
  const firstComma = text.indexOf(",");
  const secondComma = firstComma < 0 ? -1 : text.indexOf(",", firstComma + 1);
  if (secondComma < 0) throw new SyntaxProblem("the GS2 header is incomplete");
  const flagText = text.slice(0, firstComma);
  const authzPart = text.slice(firstComma + 1, secondComma);
  let flag: Gs2Flag;
  if (flagText === "n" || flagText === "y") flag = { kind: flagText };
  else if (/^p=[A-Za-z0-9.-]+$/.test(flagText)) flag = { kind: "p", type: flagText.slice(2) };
  else throw new SyntaxProblem("the GS2 channel-binding flag is not n, y or p=<type>");
  let authzid: string | undefined;
  if (authzPart !== "") {
    if (!authzPart.startsWith("a=")) throw new SyntaxProblem("the GS2 authzid is not of the form a=<name>");
    authzid = unescapeSaslname(authzPart.slice(2)) || undefined;
  }
  const header = text.slice(0, secondComma + 1);
  const bare = text.slice(secondComma + 1);
  const attrs = parseAttributes(bare);
  if (attrs[0]?.key === "m") throw new MandatoryExtensionProblem("the client requires an unsupported mandatory extension (m=)");
  if (attrs[0]?.key !== "n" || attrs[1]?.key !== "r") throw new SyntaxProblem("the message does not start with n= and r=");
  const username = unescapeSaslname(attrs[0].value);
  const nonce = attrs[1].value;
  if (!isPrintableNonce(nonce)) throw new SyntaxProblem("the nonce is empty or holds characters outside printable ASCII");
  return { flag, authzid, header, bare, username, nonce };
}
