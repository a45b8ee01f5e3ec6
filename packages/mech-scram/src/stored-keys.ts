/**
 * What the SCRAM family adds to core's server callbacks: the stored keys a SCRAM server holds
 * instead of passwords, and the callback that looks them up (module augmentation, so core names
 * no mechanism family).
 */
import type { MaybePromise } from "@saslkit/core";

/** Stored SCRAM keys for one user and one hash (RFC 5802 §3): the server never holds the password. */
export interface ScramStoredKeys {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

declare module "@saslkit/core" {
  interface ServerCallbacks {
    /** Stored SCRAM keys for a user and hash name (`SHA-256`), undefined if no such user. */
    lookupScramKeys?(authcid: string, hash: string): MaybePromise<ScramStoredKeys | undefined>;
  }
}
