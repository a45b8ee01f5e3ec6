/**
 * The socket a mail client opens from its shared options (SMTP, IMAP and POP3 alike): plain TCP,
 * or TLS from the first byte for `tls: "implicit"`. STARTTLS comes later, from the protocol.
 */
import type { Deadline } from "./deadline.js";
import { LineSocket, type ConnectOptions, type TlsSettings, type TranscriptSink } from "./line-socket.js";

/** The client options that decide how the socket is opened. */
export interface ClientSocketOptions {
  readonly host: string;
  readonly tls?: string | undefined;
  readonly tlsOptions?: TlsSettings | undefined;
  readonly maxLineBytes?: number | undefined;
  readonly transcript?: TranscriptSink | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Opens the client's socket within `connectMs` and the whole connect's `deadline`. */
export function openClientSocket(options: ClientSocketOptions, port: number, connectMs: number, deadline: Deadline): Promise<LineSocket> {
  // Built by assignment, not conditional spreads: every connection runs this.
  const connect: ConnectOptions = { host: options.host, port, tls: options.tls === "implicit" ? (options.tlsOptions ?? {}) : false, connectTimeoutMs: connectMs, deadline };
  if (options.maxLineBytes !== undefined) connect.maxLineBytes = options.maxLineBytes;
  if (options.transcript) connect.transcript = options.transcript;
  if (options.signal) connect.signal = options.signal;
  return LineSocket.connect(connect);
}
