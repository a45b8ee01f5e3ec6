import { TransportError } from "@saslkit/transport";

/** The error `promise` rejects with, checked to be a `type`. Throws, failing the test, when it resolves or rejects with anything else (the error is the cause). */
export async function rejectionOf<E>(promise: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
    if (e instanceof type) return e;
  }
  throw new Error(error === undefined ? `expected a rejection with ${type.name}` : `expected a rejection with ${type.name}, got ${String(error)}`, { cause: error });
}

/** The `code` of the `TransportError` that `promise` rejects with (see `rejectionOf`). */
export async function transportErrorCode(promise: Promise<unknown>): Promise<string> {
  return (await rejectionOf(promise, TransportError)).code;
}
