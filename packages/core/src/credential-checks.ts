/**
 * Checks that client halves apply to the credentials they encode, written once so every
 * mechanism refuses the same input with the same code and sentence. Each throws a `SaslError`
 * naming `mechanism`; no message ever contains the value checked.
 */
import { SaslError } from "./errors.js";
import { PASSWORD, readCredential, type Credentials } from "./credentials.js";
import type { MaybePromise } from "./mechanism.js";
import { prepareCredential, type CredentialPreparation } from "./prepare.js";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when `text` holds a lone UTF-16 surrogate. Such a string has no UTF-8 form:
 * `TextEncoder` would silently send U+FFFD instead, so a mechanism must refuse it.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * Refuses a credential field that has no UTF-8 form: `invalid-credentials-input`,
 * "the <what> is not valid Unicode (it has a lone surrogate).".
 */
export function requireWellFormed(value: string, mechanism: string, what: string): void {
  if (hasLoneSurrogate(value)) throw new SaslError(mechanism, "invalid-credentials-input", `the ${what} is not valid Unicode (it has a lone surrogate).`);
}

/**
 * The user name (authcid) of a mechanism that must send one, prepared per `preparation`
 * (`ClientContext.prepare`): `missing-credentials` ("a username is required.") when absent,
 * `invalid-credentials-input` ("the username is empty.") when empty, or refused by SASLprep.
 * Other checks on its content are the mechanism's.
 */
export function requireUsername(credentials: Credentials, mechanism: string, preparation?: CredentialPreparation): string {
  const username = credentials.username;
  if (username === undefined) throw new SaslError(mechanism, "missing-credentials", "a username is required.");
  if (username === "") throw new SaslError(mechanism, "invalid-credentials-input", "the username is empty.");
  return prepareCredential(username, preparation, "the username", mechanism);
}

/**
 * The password, read at the moment it is needed (it may be a prompt) and prepared per
 * `preparation`: `missing-credentials` ("a password is required.") when none is given or the
 * function yields none. An empty password is returned as is; whether it is allowed is the
 * mechanism's rule.
 */
export async function requirePassword(credentials: Credentials, mechanism: string, preparation?: CredentialPreparation): Promise<string> {
  return readPassword(credentials, mechanism, preparation);
}

/**
 * `requirePassword` without a promise when the password was given as a value (not a function):
 * the same checks, the same errors, thrown synchronously then. For mechanisms whose message is
 * built on every connection (PLAIN), where each promise layer is a measurable part of an AUTH.
 */
export function readPassword(credentials: Credentials, mechanism: string, preparation?: CredentialPreparation): MaybePromise<string> {
  const password = readCredential(credentials, PASSWORD);
  if (password instanceof Promise) return password.then((value) => checkedPassword(value, mechanism, preparation));
  return checkedPassword(password, mechanism, preparation);
}

function checkedPassword(password: string | undefined, mechanism: string, preparation: CredentialPreparation | undefined): string {
  if (password === undefined) throw new SaslError(mechanism, "missing-credentials", "a password is required.");
  return prepareCredential(password, preparation, "the password", mechanism);
}
