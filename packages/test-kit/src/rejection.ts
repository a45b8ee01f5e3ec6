import { TransportError } from "@saslkit/transport";

/**
 * The `code` of the `TransportError` that `promise` rejects with. Throws, failing the test, when
 * the promise resolves or rejects with anything else (the error is the cause).
 */
export async function transportErrorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TransportError) return error.code;
    throw new Error(`expected a TransportError, got ${String(error)}`, { cause: error });
  }
  throw new Error("expected a rejection");
}
