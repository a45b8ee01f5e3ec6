/**
 * Client credentials: typed, extensible, and held so that they cannot leak by accident.
 *
 * A credential is named by a typed key (rsasl's properties): `defineCredential<T>(name, { secret })`.
 * Core defines only the generic keys `USERNAME`, `AUTHZID` and `PASSWORD`. A mechanism package
 * defines the keys it needs next to its code and adds the matching field to `CredentialsInput` by
 * module augmentation, so callers keep passing a plain object:
 *
 * ```ts
 * export const ONE_TIME_CODE = defineCredential("oneTimeCode", { secret: true });
 * declare module "@saslkit/core" {
 *   interface CredentialsInput { readonly oneTimeCode?: string | (() => MaybePromise<string>) }
 * }
 * ```
 *
 * Protection: only fields whose key is declared `secret: false` (user name, authzid, and what a
 * mechanism family declares public) are identity. Every other field, declared secret or not
 * declared at all, lives in a private field: `util.inspect`, `JSON.stringify`, `String()` and
 * anything that prints the object show `[redacted]`, never the value, and every value of such a
 * field reaches the `onSecret` listeners as soon as it is known (adapters hand it to the
 * connection's redactor). A field whose value is a function is resolved lazily, when a mechanism
 * calls `get`, and the function is called again on every `get` (a prompt, a credential source).
 */
import { SaslError } from "./errors.js";
import type { MaybePromise } from "./mechanism.js";

/** A typed credential name. `T` is the type `get` resolves to. Make one with `defineCredential`. */
export interface CredentialKey<T = string> {
  /** The field of `CredentialsInput` that holds it. */
  readonly name: string;
  /** False only for identity that may be printed (a user name); true for anything a thief could use. */
  readonly secret: boolean;
  /** Where `has` and `get` look when this key's own field is absent (a value → the function that fetches it). */
  readonly fallback?: CredentialKey<T>;
  /** Type marker only; never set. */
  readonly __type?: T;
}

const keys = new Map<string, CredentialKey<unknown>>();

/** How a key is declared. */
export interface CredentialOptions<T> {
  /** False only for identity that may be printed; see the module comment. */
  readonly secret: boolean;
  /** Another key whose field stands in when this one is absent (a value given as the function that fetches it). */
  readonly fallback?: CredentialKey<T>;
}

/**
 * Declares a credential key. Declaring the same name twice returns the first key when the
 * options agree and throws when they do not (two packages disagreeing on whether a field is
 * secret is a bug to surface, not to settle silently).
 */
export function defineCredential<T = string>(name: string, options: CredentialOptions<T>): CredentialKey<T> {
  const existing = keys.get(name);
  if (existing) {
    if (existing.secret !== options.secret || existing.fallback !== options.fallback) {
      throw new TypeError(`The credential "${name}" is already defined with secret: ${existing.secret}${existing.fallback ? ` and fallback ${existing.fallback.name}` : ""}.`);
    }
    return existing as CredentialKey<T>;
  }
  const key: CredentialKey<T> = Object.freeze({ name, secret: options.secret, ...(options.fallback ? { fallback: options.fallback } : {}) });
  keys.set(name, key as CredentialKey<unknown>);
  return key;
}

/** The authentication identity (authcid): the user name the secret belongs to. Not secret. */
export const USERNAME: CredentialKey<string> = defineCredential("username", { secret: false });
/** The authorization identity (authzid): act as this user. Empty means "same as the user name". Not secret. */
export const AUTHZID: CredentialKey<string> = defineCredential("authzid", { secret: false });
/** The password, or a function that yields it (a prompt, a keychain). Secret. */
export const PASSWORD: CredentialKey<string> = defineCredential("password", { secret: true });

/**
 * What a caller gives: a plain object. Every field is optional; each mechanism declares the keys
 * it needs. Mechanism packages add their fields here by module augmentation (see the module
 * comment). Unknown fields are kept too, and treated as secret.
 */
export interface CredentialsInput {
  /** Authentication identity (authcid): the user name that the secret belongs to. */
  readonly username?: string;
  /** Authorization identity (authzid): act as this user. Empty or absent means "same as username". */
  readonly authzid?: string;
  /** The password, or a function that yields it (a prompt, a keychain). */
  readonly password?: string | (() => MaybePromise<string>);
}

/** Called with every secret value, as soon as it is known. */
export type SecretListener = (value: string) => void;

const REDACTED = "[redacted]";
const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

const isPublic = (name: string): boolean => keys.get(name)?.secret === false;

/**
 * `credentials.get(key, request)`, but the value itself, without a promise, when the field holds a
 * value rather than a function (reported to `onSecret` listeners the same way). Core-internal: the
 * package exports what is built on it (`readPassword`), not this.
 */
export let readCredential: <T>(credentials: Credentials, key: CredentialKey<T>, request?: unknown) => MaybePromise<T | undefined>;

/** Credentials with secrets hidden from every printing path. Build one with `Credentials.from`. */
export class Credentials {
  readonly #fields = new Map<string, unknown>();
  // Arrays, not Sets: they hold one or two entries, and one Credentials is built per connection.
  readonly #listeners: SecretListener[] = [];
  /** Secret strings known so far (given as values, or revealed by a lazy field). */
  readonly #known: string[] = [];

  private constructor(input: CredentialsInput) {
    // Own enumerable string keys in order, as Object.entries gives them (one array, not one per
    // field; a for-in loop with hasOwn checks compiled to a graph twice the size).
    const fields = input as Readonly<Record<string, unknown>>;
    const names = Object.keys(fields);
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const value = fields[name];
      if (value === undefined) continue;
      if (name === AUTHZID.name && value === "") continue;
      this.#fields.set(name, value);
      if (!isPublic(name)) this.#note(value);
    }
  }

  /** Wraps caller input; returns an existing `Credentials` unchanged. */
  static from(input: CredentialsInput | Credentials | undefined): Credentials {
    return input instanceof Credentials ? input : new Credentials(input ?? {});
  }

  /** The user name (identity, never secret), or undefined. */
  get username(): string | undefined {
    const v = this.#fields.get(USERNAME.name);
    return typeof v === "string" ? v : undefined;
  }

  /** The authorization identity, or undefined when none (an empty one counts as none). */
  get authzid(): string | undefined {
    const v = this.#fields.get(AUTHZID.name);
    return typeof v === "string" ? v : undefined;
  }

  /**
   * Whether a value for `key` (or its `fallback`) was given, without revealing it. An empty user
   * name counts as none.
   */
  has(key: CredentialKey<unknown>): boolean {
    const v = this.#fields.get(key.name);
    if (v === undefined) return key.fallback !== undefined && this.has(key.fallback);
    return !(key === USERNAME && v === "");
  }

  /** True when a secret field (password or any field not declared public) was given. */
  get hasSecret(): boolean {
    for (const name of this.#fields.keys()) if (!isPublic(name)) return true;
    return false;
  }

  /** True when no user name and no secret was given: nothing that identifies anyone. */
  get isEmpty(): boolean {
    for (const name of this.#fields.keys()) if (name === USERNAME.name ? this.has(USERNAME) : !isPublic(name)) return false;
    return true;
  }

  /**
   * The value for `key` (or, when absent, for its `fallback`), or undefined when none was given.
   * A function is called (with `request`, when given) and awaited; a secret result is reported
   * to the `onSecret` listeners first.
   */
  async get<T>(key: CredentialKey<T>, request?: unknown): Promise<T | undefined> {
    return this.#read(key, request);
  }

  /** `get` without a promise when the field holds a value rather than a function. */
  #read<T>(key: CredentialKey<T>, request?: unknown): MaybePromise<T | undefined> {
    if (!this.#fields.has(key.name) && key.fallback) return this.#read(key.fallback, request);
    const stored = this.#fields.get(key.name);
    if (typeof stored === "function") return this.#call(key, stored as (r?: unknown) => MaybePromise<T>, request);
    const value = stored as T | undefined;
    if (value !== undefined && !isPublic(key.name)) this.#note(value);
    return value;
  }

  async #call<T>(key: CredentialKey<T>, fetch: (r?: unknown) => MaybePromise<T>, request: unknown): Promise<T | undefined> {
    const value = await fetch(request);
    // A password function that yields no string (a PIN read from JSON as a number): refused, since
    // no listener learns it as a secret and every protocol would send String(value) unmasked.
    if (key === (PASSWORD as CredentialKey<unknown>) && value !== undefined && typeof value !== "string") {
      throw new SaslError(undefined, "invalid-credentials-input", `the password function yielded ${value === null ? "null" : `a ${typeof value}`}, not a string.`);
    }
    if (value !== undefined && !isPublic(key.name)) this.#note(value);
    return value;
  }

  static {
    readCredential = (credentials, key, request) => credentials.#read(key, request);
  }

  /**
   * Subscribes to secret values: `listener` is called at once with every secret already known,
   * then with each one revealed later (a password prompt's answer). Returns the unsubscribe
   * function. Listener errors are swallowed: a logger must not break authentication.
   */
  onSecret(listener: SecretListener): () => void {
    if (!this.#listeners.includes(listener)) this.#listeners.push(listener);
    // Indexed loops here and in #note: for-of would put each call in an implicit try/finally.
    const known = this.#known;
    for (let i = 0; i < known.length; i++) this.#tell(listener, known[i] as string);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  #note(value: unknown): void {
    const text = typeof value === "string" ? value : value instanceof Uint8Array ? new TextDecoder().decode(value) : undefined;
    if (text === undefined || text === "" || this.#known.includes(text)) return;
    this.#known.push(text);
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) this.#tell(listeners[i] as SecretListener, text);
  }

  #tell(listener: SecretListener, value: string): void {
    try {
      listener(value);
    } catch {
      // Ignored on purpose: see onSecret.
    }
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const name of this.#fields.keys()) out[name] = isPublic(name) ? this.#fields.get(name) : REDACTED;
    return out;
  }

  toString(): string {
    return `Credentials(${this.username ?? "<no user>"})`;
  }

  [inspectSymbol](): string {
    return `Credentials ${JSON.stringify(this.toJSON())}`;
  }
}
