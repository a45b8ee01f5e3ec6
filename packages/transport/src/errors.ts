/** Why a transport operation failed. A closed set: adapters map these to their own error phases. */
export type TransportErrorCode = "connect-failed" | "timeout" | "closed" | "line-too-long" | "tls-failed" | "aborted" | "tls-injection";

/**
 * The one error class of the transport. `code` is stable for programs; the message is a full
 * sentence for humans. Messages never contain data read or written (so never a credential).
 */
export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}
