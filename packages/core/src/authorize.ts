/**
 * The authorization rule every server half applies after authentication (RFC 4422 §3.4.1):
 * acting as oneself (authzid empty or equal to authcid) is always allowed; acting as anyone else
 * is `callbacks.authorize`'s decision, and without that callback the answer is no.
 */
import type { MaybePromise, ServerCallbacks } from "./mechanism.js";

export async function mayActAs(callbacks: ServerCallbacks, authcid: string, authzid: string): Promise<boolean> {
  if (authzid === "" || authzid === authcid) return true;
  const authorize: ((authcid: string, authzid: string) => MaybePromise<boolean>) | undefined = callbacks.authorize;
  return authorize ? (await authorize.call(callbacks, authcid, authzid)) === true : false;
}
