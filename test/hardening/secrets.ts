/**
 * Secret forms the credential-leak tests search for: the secret itself, its hex (both cases),
 * base64/base64url, and the base64 fragments it produces at each of the three byte alignments
 * inside a larger base64 blob (PLAIN's `\0user\0pass`, XOAUTH2's `auth=Bearer <token>`), so a
 * secret hidden in the middle of an encoded AUTH line is still found.
 */
import { Buffer } from "node:buffer";
import { inspect } from "node:util";

/** Distinctive secrets: long enough that an accidental match is impossible. */
export const PASSWORD = "Pw-7c1f9e3a-Hardening-Secret!";
export const TOKEN = "ya29.tok-5d8b2e41c07f4a96-HardeningToken";

function alignedBase64Fragments(secret: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), secret]).toString("base64");
    // Characters touched by the zero prefix or by the padding/next bytes are not stable.
    const start = Math.ceil((shift * 4) / 3);
    const end = Math.floor(((shift + secret.length) * 4) / 3);
    if (end - start >= 12) out.push(b64.slice(start, end));
  }
  return out;
}

/** Every form of `secret` that must never appear in anything the library produces. */
export function secretForms(secret: string): string[] {
  const b = Buffer.from(secret, "utf8");
  return [
    secret,
    b.toString("hex"),
    b.toString("hex").toUpperCase(),
    b.toString("base64"),
    b.toString("base64url"),
    ...alignedBase64Fragments(b),
    ...alignedBase64Fragments(b).map((f) => f.replace(/\+/g, "-").replace(/\//g, "_")),
  ];
}

/** All forms of both secrets. */
export const ALL_SECRET_FORMS: readonly string[] = [...new Set([...secretForms(PASSWORD), ...secretForms(TOKEN)])];

/** The forms of any secret found in `text`, empty when clean. */
export function findSecrets(text: string, forms: readonly string[] = ALL_SECRET_FORMS): string[] {
  return forms.filter((f) => text.includes(f));
}

/** Renders an error with everything a user could print: message, stack, inspect (depth ∞), JSON, cause chain. */
export function renderError(error: unknown): string {
  const parts: string[] = [String(error), inspect(error, { depth: null, showHidden: true, getters: true })];
  let e: unknown = error;
  for (let i = 0; i < 8 && e instanceof Error; i++) {
    parts.push(e.message, e.stack ?? "");
    try {
      parts.push(JSON.stringify(e, Object.getOwnPropertyNames(e)));
    } catch {
      // circular: inspect above already covers it
    }
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join("\n");
}
