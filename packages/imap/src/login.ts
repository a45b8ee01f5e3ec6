/**
 * Arguments of the LOGIN command (RFC 9051 §6.2.3): quoted strings when the value is printable
 * ASCII, else literals (UTF-8 bytes), non-synchronizing when LITERAL+ (or LITERAL- for ≤ 4096
 * bytes) is advertised.
 */
import type { ImapCapabilities } from "./capabilities.js";

export interface LoginArgument {
  /** What goes on the command line: `"quoted"` or a literal announcement `{n}` / `{n+}`. */
  readonly text: string;
  /** The literal's bytes, sent after the announcement line. */
  readonly literal?: Uint8Array;
}

/** Encodes one LOGIN argument; undefined when the value contains NUL (IMAP cannot carry it). */
export function encodeLoginArgument(value: string, capabilities: ImapCapabilities): LoginArgument | undefined {
  if (value.includes("\0")) return undefined;
  if (/^[\x20-\x7e]*$/.test(value)) return { text: `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"` };
  const bytes = new Uint8Array(Buffer.from(value, "utf8"));
  const nonSync = capabilities.has("LITERAL+") || (capabilities.has("LITERAL-") && bytes.length <= 4096);
  return { text: `{${bytes.length}${nonSync ? "+" : ""}}`, literal: bytes };
}
