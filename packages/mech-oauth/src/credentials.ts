/**
 * What the OAuth family adds to core: its credentials (`token`, `tokenProvider`) and its server
 * callback (`verifyToken`), declared here with typed keys and module augmentation so that core
 * names no mechanism family and callers still pass plain objects.
 */
import { defineCredential, type CredentialKey, type MaybePromise } from "@saslkit/core";

/** A function that yields a (fresh) OAuth access token. `refresh` is true when the last one was refused. */
export type TokenProvider = (request: { readonly refresh: boolean; readonly username?: string }) => MaybePromise<string>;

/** A `TokenProvider`; `get(TOKEN_PROVIDER, request)` calls it and yields the token. Secret. */
export const TOKEN_PROVIDER: CredentialKey<string> = defineCredential("tokenProvider", { secret: true });
/**
 * An OAuth 2.0 access token (RFC 6750), or a function that yields it. Secret. When no token is
 * given, a `tokenProvider` stands in (`has(TOKEN)` is true, `get(TOKEN, request)` asks it).
 */
export const TOKEN: CredentialKey<string> = defineCredential("token", { secret: true, fallback: TOKEN_PROVIDER });

/** A validated bearer token: who it belongs to, or the JSON error to send (RFC 7628 §3.2.2). */
export type TokenVerdict =
  | { readonly valid: true; readonly user: string }
  | { readonly valid: false; readonly status: string; readonly scope?: string; readonly schemes?: string };

declare module "@saslkit/core" {
  interface CredentialsInput {
    /** An OAuth 2.0 access token (OAUTHBEARER, XOAUTH2), or a function that yields one. */
    readonly token?: string | (() => MaybePromise<string>);
    /** Fetches a (fresh) access token; also used for one retry after the server refuses a token. */
    readonly tokenProvider?: TokenProvider;
  }
  interface ServerCallbacks {
    /** Validate an OAuth bearer token for a user (the user may be empty when the client gave none). */
    verifyToken?(user: string, token: string): MaybePromise<TokenVerdict>;
  }
}
