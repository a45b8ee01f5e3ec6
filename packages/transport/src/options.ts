/**
 * Run-time checks of client options. JavaScript users pass configuration from environment
 * variables and JSON, where types do not reach: `tls: "STARTTLS"`, a misspelt key or nodemailer's
 * `secure: true` must be an error that names the option and what is accepted, never a silent
 * fallback to cleartext (Node's own `net.connect` throws `ERR_INVALID_ARG_VALUE` the same way).
 *
 * A spec maps each accepted key to a `Rule`; `checkOptions` walks the options and calls `fail`
 * with the first problem found. Values of secret-bearing options are never quoted in messages.
 */

import { MechanismRegistry } from "@saslkit/core";

/** One accepted option. */
export interface Rule {
  /** What is accepted, for humans: `"implicit", "starttls", "none" or absent`. */
  readonly accepted: string;
  readonly check: (value: unknown) => boolean;
  /** For objects: the rules of their keys. */
  readonly keys?: OptionSpec;
  /** For objects: whether keys outside `keys` are allowed (extensible inputs such as credentials). */
  readonly open?: boolean;
  /** Whether the value may be quoted in an error message. Default false. */
  readonly quote?: boolean;
  /** A hint for a value that looks like another library's (`tls: {...}`). */
  readonly hint?: (value: unknown) => string | undefined;
}

export type OptionSpec = Readonly<Record<string, Rule>>;

/** What was wrong, handed to the caller's error factory. */
export interface OptionProblem {
  /** The option path: `tls`, `timeouts.reply`, `auth.user`. */
  readonly option: string;
  /** A full sentence naming the option and the accepted values. */
  readonly message: string;
}

/**
 * Keys other mail libraries use, with what to use here. A key listed here is refused even where
 * unknown keys would be allowed (credentials are extensible, `auth.user` is still a mistake).
 */
export const FOREIGN_KEYS: Readonly<Record<string, string>> = {
  secure: 'use tls: "implicit" (TLS from the first byte) or tls: "starttls"',
  requireTLS: 'use tls: "starttls" (STARTTLS required)',
  requireTls: 'use tls: "starttls" (STARTTLS required); the default already refuses to send credentials to a remote host without TLS',
  ignoreTLS: 'use tls: "none"',
  ignoreTls: 'use tls: "none"',
  rejectUnauthorized: "put it in tlsOptions",
  servername: "put it in tlsOptions",
  maxAuthRounds: "use maxRounds",
  "auth.user": "use auth.username",
  "auth.pass": "use auth.password",
  "auth.accessToken": "use auth.token",
};

/**
 * Keys of this library that belong somewhere else than where they were put (exact option paths),
 * with where they go. Only one place chooses a thing: the channel-binding type is the SCRAM
 * mechanism's option, the same for SMTP, IMAP and POP3 (docs/decisions/0013-one-mail-client-shape.md).
 */
const MISPLACED_KEYS: Readonly<Record<string, string>> = {
  channelBinding: 'the channel-binding type is a mechanism option: use mechanismOptions: { scram: { channelBinding: "tls-server-end-point" } } (one type, a list in order of preference, or false to turn binding off)',
};

/**
 * Every key that can complete a path of `FOREIGN_KEYS` or `MISPLACED_KEYS`: each path, and each of
 * its tails after a dot (`auth.user`, `user`), since a prefix always ends with a dot.
 */
const SUSPECT_KEYS: ReadonlySet<string> = new Set(
  [...Object.keys(FOREIGN_KEYS), ...Object.keys(MISPLACED_KEYS)].flatMap((path) => path.split(".").map((_, i, parts) => parts.slice(i).join("."))),
);

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
};

/**
 * A rule with every field present, in one order: the options check reads `check`, `keys` and
 * `open` of many rules at the same places, which stay monomorphic (one object shape) instead of
 * megamorphic (one shape per kind of rule), in a fresh process and once optimised.
 */
function rule(accepted: string, check: (value: unknown) => boolean, more: { readonly keys?: OptionSpec; readonly open?: boolean; readonly quote?: boolean; readonly hint?: ((value: unknown) => string | undefined) | undefined } = {}): Rule {
  return { accepted, check, keys: more.keys, open: more.open ?? false, quote: more.quote ?? false, hint: more.hint };
}

/** A string rule accepting exactly these values (case-sensitive: `"STARTTLS"` is refused). */
export function oneOf(...values: readonly string[]): Rule {
  return rule(`${values.map((v) => JSON.stringify(v)).join(", ")} or absent`, (v) => typeof v === "string" && values.includes(v), { quote: true });
}

/** A number in [min, max]; `Infinity` allowed when `max` is Infinity (timeouts). */
export function number(options: { min?: number; max?: number; integer?: boolean } = {}): Rule {
  const min = options.min ?? 0;
  const max = options.max ?? Infinity;
  const accepted = `a${options.integer ? "n integer" : " number"} from ${min} to ${max === Infinity ? "Infinity" : max}`;
  return rule(accepted, (v) => typeof v === "number" && !Number.isNaN(v) && v >= min && v <= max && (!options.integer || Number.isInteger(v) || v === Infinity), { quote: true });
}

export const boolean: Rule = rule("true or false", (v) => typeof v === "boolean", { quote: true });
export const string: Rule = rule("a non-empty string", (v) => typeof v === "string" && v.length > 0);
export const text: Rule = rule("a string", (v) => typeof v === "string");
export const func: Rule = rule("a function", (v) => typeof v === "function");
/** A list of mechanism names (any spelling: core refuses names that are not SASL names). */
const names: Rule = rule("a list of mechanism names (strings)", (v) => Array.isArray(v) && v.every((x) => typeof x === "string"));
/**
 * PEM text, as a string or bytes: what Node's TLS takes for a CA, certificate or key. Node reads
 * an empty `ca` as "no ca given" (its public roots, not the CA meant: an unset variable, an empty
 * file), a path or other text as no certificate at all, a wrong type only once connecting.
 */
const PEM = "-----BEGIN ";
/** A string as it is, bytes as latin1 text (one character per byte: PEM markers are ASCII), else undefined. */
const pemText = (v: unknown): string | undefined =>
  typeof v === "string" ? v : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1") : undefined;
const isPem = (v: unknown): boolean => pemText(v)?.includes(PEM) === true;
const PEM_HINT = (v: unknown): string | undefined => (typeof v === "string" && v !== "" && !v.includes(PEM) ? "Give the file's contents, not its path." : undefined);
const pem: Rule = rule("PEM text (a string or Buffer holding -----BEGIN ...)", isPem, { hint: PEM_HINT });
/**
 * PEM holding a certificate, what a `ca` must be: Node loads only the certificates of a `ca` and
 * ignores every other block, so a key (`--ca server.key`) or a CSR would trust nothing at all.
 * OpenSSL reads CERTIFICATE, X509 CERTIFICATE and TRUSTED CERTIFICATE blocks.
 */
const CERTIFICATE = /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----/;
const isCertificate = (v: unknown): boolean => {
  const text = pemText(v);
  return text !== undefined && CERTIFICATE.test(text);
};
const CERTIFICATE_HINT = (v: unknown): string | undefined => PEM_HINT(v) ?? (isPem(v) ? "It holds PEM but no certificate (a key?): give the CA's certificate." : undefined);
const certificate: Rule = rule("PEM text holding a certificate (-----BEGIN CERTIFICATE-----), as a string or Buffer", isCertificate, { hint: CERTIFICATE_HINT });
const certificates: Rule = rule(
  "PEM text holding a certificate (-----BEGIN CERTIFICATE-----), as a string or Buffer, or a non-empty list of them",
  (v) => isCertificate(v) || (Array.isArray(v) && v.length > 0 && v.every(isCertificate)),
  { hint: (v) => CERTIFICATE_HINT(Array.isArray(v) ? v.find((x) => !isCertificate(x)) : v) },
);

/** Anything but undefined. */
export const any: Rule = rule("a value", () => true);

/** A mechanism provider as core registers it: a name and a client factory (core checks the rest). */
function isProvider(p: unknown): boolean {
  return typeof p === "object" && p !== null && typeof (p as { name?: unknown }).name === "string" && typeof (p as { createClient?: unknown }).createClient === "function";
}

/**
 * Core's `MechanismSource`: a list of providers, a `MechanismRegistry` or a tsyringe container.
 * Anything else (a mechanism's name, null, a plain object) used to pass here and fail only at
 * login, with a TypeError from inside the registry.
 */
const mechanismSource: Rule = rule(
  "a list of mechanism providers (such as [plain, scramSha256]), a MechanismRegistry or a tsyringe container",
  (v) => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) if (!isProvider(v[i])) return false;
      return true;
    }
    if (v instanceof MechanismRegistry) return true;
    const container = v as { isRegistered?: unknown; resolveAll?: unknown } | null;
    return typeof v === "object" && container !== null && typeof container.isRegistered === "function" && typeof container.resolveAll === "function";
  },
  { hint: (v) => (typeof v === "string" || (Array.isArray(v) && v.some((x) => typeof x === "string")) ? "Give the providers themselves (import { plain } from \"@saslkit/mech-plain\"); names go in policy.force or policy.order." : undefined) },
);

/** A non-empty array whose items are among `values`. */
export function listOf(...values: readonly string[]): Rule {
  return rule(`one of ${values.map((v) => JSON.stringify(v)).join(", ")} or a list of them`, (v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "string" && values.includes(x)));
}

/** Several rules, the value must pass one. */
export function either(...rules: readonly Rule[]): Rule {
  // An indexed loop, not `rules.some(...)`: that built a closure on every check (every connection
  // checks auth's fields through this).
  const check = (v: unknown): boolean => {
    for (let i = 0; i < rules.length; i++) if ((rules[i] as Rule).check(v)) return true;
    return false;
  };
  return rule(rules.map((r) => r.accepted).join(" or "), check, { quote: rules.every((r) => r.quote) });
}

/** An instance of a class (AbortSignal). */
export function instance(ctor: abstract new (...args: never[]) => unknown, what: string): Rule {
  return rule(what, (v) => v instanceof ctor);
}

/** A plain object whose keys follow `keys`; `open` allows other keys (foreign ones still refused). */
export function object(keys: OptionSpec, options: { open?: boolean; hint?: (value: unknown) => string | undefined } = {}): Rule {
  return rule("an object", (v) => v !== null && typeof v === "object" && !Array.isArray(v), { keys, open: options.open ?? false, hint: options.hint });
}

/** Adds a hint to a rule (shown when the value is refused). */
export function withHint(base: Rule, hint: (value: unknown) => string | undefined): Rule {
  return { accepted: base.accepted, check: base.check, keys: base.keys, open: base.open ?? false, quote: base.quote ?? false, hint };
}

/** `record[key]` when `key` is the record's own (never `toString`, `constructor`... of Object.prototype). */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * The keys of `options` to check: its own, and, when it is not a plain object (built on another
 * object, a class instance), every key the client would read through its prototypes too.
 */
function keysOf(options: object, spec: OptionSpec): string[] {
  const proto: unknown = Object.getPrototypeOf(options);
  return proto === Object.prototype || proto === null ? Object.keys(options) : inheritedKeys(options, spec);
}

function inheritedKeys(options: object, spec: OptionSpec): string[] {
  const keys = new Set(Object.keys(options));
  for (const key in options) keys.add(key);
  for (const key of Object.keys(spec)) if (key in options) keys.add(key); // accessors of a class
  return [...keys];
}

function walk(options: Readonly<Record<string, unknown>>, spec: OptionSpec, open: boolean, prefix: string): OptionProblem | undefined {
  const keys = keysOf(options, spec);
  // An indexed loop: for-of would wrap each rule's check in an implicit try/finally (iterator closing).
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const value = options[key];
    const rule = own(spec, key);
    if (rule && value === undefined) continue;
    if (!rule) {
      // A key no foreign or misplaced path can end with needs no path built (auth's extra fields, policy's keys).
      if (!SUSPECT_KEYS.has(key) && (open || value === undefined)) continue;
      const path = `${prefix}${key}`;
      const misplaced = own(MISPLACED_KEYS, path);
      if (misplaced !== undefined) return { option: path, message: `The option "${path}" is not one of this client's options: ${misplaced}.` };
      const foreign = own(FOREIGN_KEYS, path) ?? (prefix === "" ? undefined : own(FOREIGN_KEYS, key));
      if (foreign !== undefined) return { option: path, message: `The option "${path}" is not one of this client's options (it belongs to another mail library): ${foreign}.` };
      if (open || value === undefined) continue;
      const known = Object.keys(spec).map((k) => `${prefix}${k}`);
      return { option: path, message: `Unknown option "${path}". Accepted options${prefix ? ` in ${prefix.slice(0, -1)}` : ""}: ${known.join(", ")}.` };
    }
    // Known keys (the usual case) need no path string: it is built for problems and nesting only.
    if (!rule.check(value)) {
      const path = `${prefix}${key}`;
      const hint = rule.hint?.(value);
      const got = rule.quote ? `, got ${show(value)}` : "";
      return { option: path, message: `The option "${path}" must be ${rule.accepted}${got}.${hint ? ` ${hint}` : ""}` };
    }
    if (rule.keys) {
      const inner = walk(value as Record<string, unknown>, rule.keys, rule.open ?? false, `${prefix}${key}.`);
      if (inner) return inner;
    }
  }
  return undefined;
}

/**
 * Checks `options` against `spec` and throws `fail(problem)` on the first problem: an unknown key,
 * a key from another library, or a value outside what the rule accepts. Absent (undefined) values
 * are always accepted; required options are the caller's to check.
 */
export function checkOptions(options: unknown, spec: OptionSpec, fail: (problem: OptionProblem) => Error): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw fail({ option: "options", message: `The options must be an object, got ${show(options)}.` });
  }
  const problem = walk(options as Record<string, unknown>, spec, false, "");
  if (problem) throw fail(problem);
}

/**
 * The options the three mail clients share, with the same names and meanings (SHAPE: one client
 * shape). Each client adds its own keys (`name` for SMTP EHLO, `login` for IMAP, ...).
 */
export function sharedClientOptions(): OptionSpec {
  const timeout = number({ min: 0 });
  return {
    host: string,
    port: number({ min: 1, max: 65535, integer: true }),
    tls: withHint(oneOf("implicit", "starttls", "none"), (v) =>
      typeof v === "object" && v !== null ? "TLS settings (ca, servername, rejectUnauthorized) go in tlsOptions." : typeof v === "boolean" ? 'Use tls: "implicit" for TLS from the first byte.' : undefined,
    ),
    tlsOptions: certWithKey(
      object({
        ca: certificates,
        rejectUnauthorized: boolean,
        servername: string,
        cert: pem,
        key: pem,
        minVersion: oneOf("TLSv1.2", "TLSv1.3"),
      }),
    ),
    // Identities are strings (CredentialsInput): a function user name read as none, and the
    // protocol logins then sent the password for an empty user.
    auth: object({ username: text, authzid: text, password: either(text, func) }, { open: true }),
    mechanisms: mechanismSource,
    // Core's NegotiationPolicy, checked here: core takes a string for a list (exclude: "PLAIN"
    // excluded nothing) and ignores a misspelt key, and either left a weaker choice.
    policy: object({ force: text, order: names, exclude: names, cleartext: oneOf("loopback", "never", "allow") }),
    mechanismOptions: object({}, { open: true }),
    fallback: boolean,
    maxAttempts: number({ min: 1, max: 100, integer: true }),
    maxRounds: number({ min: 1, max: 1000, integer: true }),
    timeouts: object({ connect: timeout, reply: timeout }),
    maxLineBytes: number({ min: 512, max: 64 * 1024 * 1024, integer: true }),
    transcript: func,
    signal: instance(AbortSignal, "an AbortSignal"),
    prepare: oneOf("none", "saslprep"),
  };
}

/**
 * `tls` settings whose client certificate comes with its key: a `cert` alone sends no certificate
 * (Node needs the key to present it) while the client still believes it has one, and a `key`
 * alone does nothing; either is a slip, refused rather than connecting without what was meant.
 */
function certWithKey(base: Rule): Rule {
  return {
    ...base,
    accepted: `${base.accepted} with cert and key given together (a client certificate needs its key)`,
    check: (v) => base.check(v) && ((v as { cert?: unknown }).cert === undefined) === ((v as { key?: unknown }).key === undefined),
  };
}

/** The rule builders, as one object (what a client needs to describe its own keys). */
export const rules = { any, boolean, certificate, either, func, instance, listOf, number, object, oneOf, pem, string, text, withHint } as const;
