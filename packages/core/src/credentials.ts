/**
 * Client credentials, held so that they cannot leak by accident.
 *
 * Callers pass a plain `CredentialsInput` object. The session wraps it in `Credentials`, whose
 * secrets live in private fields: `util.inspect`, `JSON.stringify`, `String()` and error
 * messages of anything that holds it show `[redacted]`, never the value. Mechanisms read a secret
 * only through `password()` / `token()`, at the moment they need it.
 */
import type { MaybePromise } from "./mechanism.js";

/** A function that yields a fresh OAuth access token. `refresh` is true when the last one was refused. */
export type TokenProvider = (request: { readonly refresh: boolean; readonly username?: string }) => MaybePromise<string>;

/** What a caller gives. Every field is optional: each mechanism declares which it needs. */
export interface CredentialsInput {
  /** Authentication identity (authcid): the user name that the secret belongs to. */
  readonly username?: string;
  /** Authorization identity (authzid): act as this user. Empty or absent means "same as username". */
  readonly authzid?: string;
  /** The password, or a function that yields it (a prompt, a keychain). */
  readonly password?: string | (() => MaybePromise<string>);
  /** An OAuth 2.0 access token. */
  readonly token?: string;
  /** Fetches a (fresh) access token; used for one retry after the server refuses a token. */
  readonly tokenProvider?: TokenProvider;
  /** ANONYMOUS trace information (RFC 4505): an e-mail address or opaque string. */
  readonly trace?: string;
}

/** The kinds of credential a mechanism may need; providers declare them in `needs`. */
export type CredentialKind = "username" | "password" | "token" | "trace";

const REDACTED = "[redacted]";
const inspectSymbol = Symbol.for("nodejs.util.inspect.custom");

/** Credentials with secrets hidden from every printing path. Build one with `Credentials.from`. */
export class Credentials {
  readonly #password: string | (() => MaybePromise<string>) | undefined;
  readonly #token: string | undefined;
  readonly #tokenProvider: TokenProvider | undefined;
  #refreshed = false;

  readonly username: string | undefined;
  readonly authzid: string | undefined;
  readonly trace: string | undefined;

  private constructor(input: CredentialsInput) {
    this.username = input.username;
    this.authzid = input.authzid === "" ? undefined : input.authzid;
    this.trace = input.trace;
    this.#password = input.password;
    this.#token = input.token;
    this.#tokenProvider = input.tokenProvider;
  }

  /** Wraps caller input; returns an existing `Credentials` unchanged. */
  static from(input: CredentialsInput | Credentials | undefined): Credentials {
    return input instanceof Credentials ? input : new Credentials(input ?? {});
  }

  /** Whether a credential of this kind was given (without revealing it). */
  has(kind: CredentialKind): boolean {
    switch (kind) {
      case "username":
        return this.username !== undefined && this.username !== "";
      case "password":
        return this.#password !== undefined;
      case "token":
        return this.#token !== undefined || this.#tokenProvider !== undefined;
      case "trace":
        return this.trace !== undefined;
    }
  }

  /** True when nothing identifying was given (ANONYMOUS is only for this case). */
  get isEmpty(): boolean {
    return !this.has("username") && !this.has("password") && !this.has("token");
  }

  /** The password. Throws nothing itself; mechanisms check `has("password")` first. */
  async password(): Promise<string | undefined> {
    const p = this.#password;
    return typeof p === "function" ? await p() : p;
  }

  /**
   * The access token. With `refresh: true` (after the server refused one) asks the provider for a
   * fresh token; returns undefined when there is no provider or a refresh was already used, so a
   * mechanism retries at most once.
   */
  async token(options: { refresh?: boolean } = {}): Promise<string | undefined> {
    if (options.refresh) {
      if (!this.#tokenProvider || this.#refreshed) return undefined;
      this.#refreshed = true;
      return this.#tokenProvider({ refresh: true, ...(this.username !== undefined ? { username: this.username } : {}) });
    }
    if (this.#token !== undefined) return this.#token;
    if (this.#tokenProvider) return this.#tokenProvider({ refresh: false, ...(this.username !== undefined ? { username: this.username } : {}) });
    return undefined;
  }

  /** Whether a token refresh is still possible. */
  get canRefreshToken(): boolean {
    return this.#tokenProvider !== undefined && !this.#refreshed;
  }

  toJSON(): Record<string, unknown> {
    return {
      username: this.username,
      authzid: this.authzid,
      password: this.#password === undefined ? undefined : REDACTED,
      token: this.has("token") ? REDACTED : undefined,
    };
  }

  toString(): string {
    return `Credentials(${this.username ?? "<no user>"})`;
  }

  [inspectSymbol](): string {
    return `Credentials ${JSON.stringify(this.toJSON())}`;
  }
}
