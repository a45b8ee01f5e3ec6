/**
 * The one secret detector of a connection (MailKit's `IAuthenticationSecretDetector`, put where
 * bytes and server text pass). Every `LineSocket` owns one: each transcript entry goes through it
 * before the caller's sink, and adapters pass every server-derived string that enters an error
 * (message, reply, command) through `socket.redact(text)`.
 *
 * What it masks, replaced by `****`:
 * - `addSecret(value)`: the raw secret (a password, a token), and the forms a peer or a log may
 *   show it in: its UTF-8 bytes read as latin1, its base64 at each of the three byte alignments
 *   (so it is found inside a longer base64 string, e.g. a base64 PLAIN message), base64url,
 *   lower- and upper-case hex, and the escaped forms a server or a log may quote it in:
 *   percent-encoded (either hex case, and form-encoded with `+` for space), quoted-printable,
 *   and backslash-quoted (an IMAP quoted string, JSON).
 * - `addPayload(base64)`: the exact base64 text of a message sent during authentication (a
 *   server that echoes `AUTH PLAIN <payload>` back), and the payload's decoded text.
 *
 * Values shorter than `MIN_LENGTH` characters are not tracked: they would mask innocent words
 * ("OK") and a peer echoing them reveals little. Redaction is one pass per value, linear in the
 * text's length.
 *
 * The derived forms are computed when first needed: by the first `redact` (or `size`) after a
 * registration, for a text of at least `MIN_LENGTH` characters. A session that never shows server
 * text or a transcript (the common successful AUTH) never pays for them; a registration still
 * masks every form from that moment on, since nothing is redacted without deriving them first.
 */
const MIN_LENGTH = 4;
const MASK = "****";

/** The parts of the base64 of `bytes` that appear in any base64 text containing them at byte offset ≡ `k` (mod 3). */
function base64Aligned(bytes: Buffer, k: 0 | 1 | 2): string {
  const padded = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64").replace(/=+$/, "");
  // Character i carries bits [6i, 6i + 6): keep only those made of the secret's bits alone.
  const first = Math.ceil((8 * k) / 6);
  const last = Math.floor((8 * (k + bytes.length)) / 6); // exclusive
  return padded.slice(first, last);
}

export class Redactor {
  /** The tracked forms; created by the first derivation (most connections never redact anything). */
  #values: Set<string> | undefined;
  /** Longest first, so a longer form is masked whole before a shorter one inside it. */
  #ordered: string[] | undefined;
  /** Secrets registered whose forms are not derived yet. */
  #pendingSecrets: Array<string | Uint8Array> = [];
  /** Payloads registered whose forms are not derived yet. */
  #pendingPayloads: string[] = [];

  #add(value: string): void {
    if (value.length < MIN_LENGTH) return;
    const values = (this.#values ??= new Set());
    if (values.has(value)) return;
    values.add(value);
    this.#ordered = undefined;
  }

  /** Registers a secret in all the forms listed in the module comment. */
  addSecret(secret: string | Uint8Array): void {
    if (typeof secret === "string") {
      if (!this.#pendingSecrets.includes(secret)) this.#pendingSecrets.push(secret);
    } else {
      // A copy: the caller may reuse its buffer before the forms are derived.
      this.#pendingSecrets.push(Uint8Array.from(secret));
    }
  }

  /** Registers the exact base64 text of a payload sent during authentication (and its decoded text). */
  addPayload(base64: string): void {
    if (!this.#pendingPayloads.includes(base64)) this.#pendingPayloads.push(base64);
  }

  /** Derives the forms of everything registered since the last call. */
  #derive(): void {
    const secrets = this.#pendingSecrets;
    const payloads = this.#pendingPayloads;
    if (secrets.length === 0 && payloads.length === 0) return;
    this.#pendingSecrets = [];
    this.#pendingPayloads = [];
    for (const secret of secrets) this.#deriveSecret(secret);
    for (const payload of payloads) this.#derivePayload(payload);
  }

  #deriveSecret(secret: string | Uint8Array): void {
    const bytes = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
    if (typeof secret === "string") this.#add(secret);
    else this.#add(bytes.toString("utf8"));
    this.#add(bytes.toString("latin1"));
    for (const k of [0, 1, 2] as const) {
      const b64 = base64Aligned(bytes, k);
      this.#add(b64);
      this.#add(b64.replace(/\+/g, "-").replace(/\//g, "_"));
    }
    const hex = bytes.toString("hex");
    this.#add(hex);
    this.#add(hex.toUpperCase());
    this.#deriveEscaped(bytes.toString("utf8"), bytes);
  }

  /** A percent-encoded form, in both hex cases. */
  #addPercent(form: string): void {
    this.#add(form);
    this.#add(form.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  }

  /** The escaped forms (module comment); each is tracked only when it differs from the raw text. */
  #deriveEscaped(text: string, bytes: Buffer): void {
    let percent: string | undefined;
    try {
      percent = encodeURIComponent(text);
    } catch {
      // a lone surrogate: no URL carries it
    }
    if (percent !== undefined && percent !== text) {
      this.#addPercent(percent);
      this.#add(percent.replace(/%20/g, "+"));
    }
    if (percent !== undefined && /[!'()*~]/.test(text)) {
      // Encoders that also escape what encodeURIComponent leaves: RFC 3986's strict one (!'()*)
      // and application/x-www-form-urlencoded (URLSearchParams: those and ~, space as +).
      const strict = percent.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
      this.#addPercent(strict);
      this.#add(new URLSearchParams({ s: text }).toString().slice(2));
    }
    let qp = "";
    for (const b of bytes) qp += (b >= 33 && b <= 126 && b !== 61) || b === 32 || b === 9 ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, "0")}`;
    this.#add(qp);
    this.#add(text.replace(/[\\"]/g, (c) => `\\${c}`));
    this.#add(JSON.stringify(text).slice(1, -1));
  }

  #derivePayload(base64: string): void {
    this.#add(base64);
    const decoded = Buffer.from(base64, "base64");
    // Segments between NULs and commas (PLAIN's "authzid\0user\0pass", GS2 headers) are not secrets
    // by themselves; only the whole decoded text is tracked, so an echo of it is masked too.
    if (decoded.length >= MIN_LENGTH) this.#add(decoded.toString("utf8"));
  }

  /** Registers one exact value (no derived forms). */
  add(value: string): void {
    this.#add(value);
  }

  /** `text` with every tracked value replaced by `****`. */
  redact(text: string): string {
    if (text.length < MIN_LENGTH) return text;
    this.#derive();
    const values = this.#values;
    if (values === undefined || values.size === 0) return text;
    this.#ordered ??= [...values].sort((a, b) => b.length - a.length);
    let out = text;
    for (const value of this.#ordered) if (out.includes(value)) out = out.split(value).join(MASK);
    return out;
  }

  /** Alias of `redact`. */
  scrub(text: string): string {
    return this.redact(text);
  }

  /** How many distinct forms are tracked. */
  get size(): number {
    this.#derive();
    return this.#values?.size ?? 0;
  }
}
