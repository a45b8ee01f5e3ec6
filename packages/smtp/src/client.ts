/**
 * The SMTP client (RFC 5321) with STARTTLS (RFC 3207), SASL AUTH (RFC 4954), PIPELINING
 * (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531).
 *
 * Life cycle: `SmtpClient.connect(options)` connects, reads the greeting, says EHLO (HELO when
 * EHLO is refused), upgrades with STARTTLS when offered (and re-EHLOs, discarding everything
 * learnt in clear), authenticates when `auth` is given; then any number of `send` calls, which
 * may overlap: they are queued and, when the server offers PIPELINING, the next message's
 * MAIL/RCPT/DATA go out right after the previous message's end-of-data dot, so a reused connection
 * costs one round trip per message. `quit()` ends politely, `close()` at once.
 *
 * Every wait is bounded by an absolute deadline; every failure is an `SmtpError`.
 *
 * The work is in files by concept: `options.ts` (options, defaults, run-time check), `setup.ts`
 * (greeting, EHLO, STARTTLS, the TLS default), `auth.ts` (AUTH), `transaction.ts` (MAIL, RCPT,
 * DATA), `chunking.ts` (the same with BDAT), `pipeline.ts` (ordered writes and replies),
 * `many.ts` (`sendMany`), `pool.ts` (`createPool`).
 */
import type { ChannelInfo, NegotiationRecord } from "@saslkit/core";
import { Deadline, TransportError, openClientSocket, type LineSocket, type TranscriptSink } from "@saslkit/transport";
import { authenticateSession } from "./auth.js";
import { SmtpError, transportFailure } from "./errors.js";
import { prepareMessage, type Envelope, type Message, type PreparedMessage, type SendOptions } from "./message.js";
import { checkSmtpOptions, defaultPort, resolveTimeouts, type PipeliningMode, type SmtpClientOptions } from "./options.js";
import { ANSWERS, CLOSED_AFTER_QUIT, CommandPipeline } from "./pipeline.js";
import type { SmtpCapabilities, SmtpReply } from "./reply.js";
import { channelOf, setUpSession, type ServerState } from "./setup.js";
import { mailCommand, transaction, type Outcome, type SendResult, type TransactionContext } from "./transaction.js";
import { bdatTransaction } from "./chunking.js";
import { SUBMIT, sendEach, type OutgoingMessage, type SendManyOptions, type SendOutcome } from "./many.js";

const noop = (): void => undefined;

/** An SMTP client connection. Create with `SmtpClient.connect`. */
export class SmtpClient {
  readonly #pipeline: CommandPipeline;
  readonly #options: SmtpClientOptions;
  readonly #port: number;
  readonly #server: ServerState;
  readonly #transaction: TransactionContext;
  readonly #negotiation: NegotiationRecord | undefined;
  #closing = false;

  private constructor(pipeline: CommandPipeline, options: SmtpClientOptions, port: number, dataMs: number, server: ServerState, negotiation: NegotiationRecord | undefined) {
    this.#pipeline = pipeline;
    this.#options = options;
    this.#port = port;
    this.#server = server;
    this.#negotiation = negotiation;
    const caps = server.capabilities;
    const chunking = caps.chunking && options.chunking !== false;
    this.#transaction = { pipeline, dataMs, transcript: options.transcript, chunking, binaryMime: chunking && caps.has("BINARYMIME") };
  }

  // ---------------------------------------------------------------------------------------------
  // Connect.
  // ---------------------------------------------------------------------------------------------

  /**
   * Checks the options, connects, greets, upgrades to TLS, authenticates, all within one
   * absolute deadline (`timeouts.connect`). Rejects with `SmtpError` (`invalid-option` before any
   * connection for a refused option); the connection is closed then.
   */
  static async connect(options: SmtpClientOptions): Promise<SmtpClient> {
    checkSmtpOptions(options);
    const timeouts = resolveTimeouts(options.timeouts);
    const port = defaultPort(options);
    const deadline = Deadline.in(timeouts.connect);
    let line: LineSocket;
    try {
      line = await openClientSocket(options, port, timeouts.connect, deadline);
    } catch (error) {
      throw transportFailure(error, "connect", undefined, undefined);
    }
    const pipeline = new CommandPipeline(line, timeouts.reply);
    pipeline.limit = deadline;
    try {
      const server = await setUpSession(pipeline, options, port);
      const negotiation = options.auth !== undefined ? await authenticateSession(pipeline, options, port, server.capabilities.auth) : undefined;
      pipeline.limit = undefined;
      return new SmtpClient(pipeline, options, port, timeouts.data, server, negotiation);
    } catch (error) {
      return abandon(pipeline, error);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Public state.
  // ---------------------------------------------------------------------------------------------

  /** The greeting reply (220). */
  get greeting(): SmtpReply {
    return this.#server.greeting;
  }

  /** The server's capabilities from the latest EHLO (after STARTTLS, only what was said over TLS). */
  get capabilities(): SmtpCapabilities {
    return this.#server.capabilities;
  }

  /**
   * The AUTH negotiation, when `auth` was given: what the server offered, the plan with each
   * refusal's reason, every attempt with its outcome, the mechanism chosen (the record the IMAP
   * and POP3 clients keep too; a failed connect carries it in `error.negotiation`).
   */
  get negotiation(): NegotiationRecord | undefined {
    return this.#negotiation;
  }

  /** The SASL mechanism that authenticated this connection, if any. */
  get authenticatedWith(): string | undefined {
    return this.#negotiation?.chosen;
  }

  /** True when the connection is TLS. */
  get secure(): boolean {
    return this.#pipeline.line.secure;
  }

  /**
   * The core `ChannelInfo` of the current connection: TLS or not, loopback or not, and on TLS the
   * channel-binding types this connection can produce (tls-exporter on TLS 1.3,
   * tls-server-end-point when the certificate's hash is known, tls-unique on TLS 1.2). After
   * STARTTLS it describes the upgraded channel.
   */
  get channel(): ChannelInfo {
    return channelOf(this.#pipeline.line, this.#options, this.#port);
  }

  /** The PIPELINING mode in effect on this connection (after quirks and the server's EHLO). */
  get pipelining(): PipeliningMode {
    if (!this.#server.capabilities.pipelining) return "off";
    const asked = this.#options.pipelining;
    if (asked === false) return "off";
    if (asked === undefined || asked === true) return this.#server.quirks.includes("dovecot-submission") ? "transaction" : "full";
    return asked;
  }

  /**
   * Server quirks recognised on this connection, each changing a default:
   * `"dovecot-submission"` (greeting or EHLO names Dovecot) makes the default pipelining
   * `"transaction"`.
   */
  get quirks(): readonly string[] {
    return this.#server.quirks;
  }

  /** True once the connection is closed or unusable. */
  get closed(): boolean {
    // A server that ended its side can send no more replies: the connection carries nothing more.
    return this.#closing || this.#pipeline.broken !== undefined || this.#pipeline.line.ended;
  }

  /** @internal The pool's reading of `CommandPipeline.answers`: replies read so far, 421s aside. */
  get [ANSWERS](): number {
    return this.#pipeline.answers;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending.
  // ---------------------------------------------------------------------------------------------

  /**
   * Sends one message. Calls may overlap: they are queued on this connection in call order and,
   * with PIPELINING, written without waiting for the previous message's final reply. Resolves
   * with the accepted and refused recipients and the final reply; rejects with `SmtpError`
   * (`no-recipients` when every recipient was refused, after an RSET; `outcome-unknown` when the
   * connection dropped, timed out or was aborted or closed between the final dot and the reply:
   * the message may have been accepted, so do not resend it blindly).
   */
  send(message: Message, envelope?: Envelope, options?: SendOptions): Promise<SendResult> {
    return this.#send(message, envelope, false, options);
  }

  /**
   * Sends many messages over this connection without tuning: takes them from an iterable or async
   * iterable (a generator, a queue, a database cursor), keeps a few in flight, the number chosen
   * from the PIPELINING mode in effect, so each costs one round trip, and yields one outcome per
   * message in order (`ok` with the `result`, or the `error` `send` would have rejected with).
   * A refused message does not stop the others. When the connection ends, no further message is
   * taken and the iterator stays open; when the iterator throws, the messages already taken still
   * get their outcomes before its error (see `sendEach` in many.ts).
   *
   * ```ts
   * for await (const r of client.sendMany(queue)) if (!r.ok) console.error(r.index, r.error.code);
   * ```
   */
  sendMany(messages: Iterable<OutgoingMessage> | AsyncIterable<OutgoingMessage>, options?: SendManyOptions): AsyncGenerator<SendOutcome, void, undefined> {
    return sendEach(this, messages, options);
  }

  /**
   * Sends one message and ends the session: with PIPELINING, QUIT goes out with the message's
   * final dot (RFC 2920 lets QUIT end a group), saving a round trip; the connection is closed
   * afterwards either way. Resolves like `send`; on failure the connection is closed and the
   * error is the message's. `sendMail` uses it.
   */
  async sendAndQuit(message: Message, envelope?: Envelope): Promise<SendResult> {
    let result: SendResult;
    try {
      result = await this.#send(message, envelope, true);
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.#pipeline.quitWritten) {
      await this.#pipeline.drained(); // the 221 (or its failure, which changes nothing now)
      this.#pipeline.line.destroy(CLOSED_AFTER_QUIT); // the server reads nothing after QUIT: no need to wait for its FIN
    } else await this.#pipeline.exclusive(() => this.#quitNow());
    return result;
  }

  /** `send` and `sendAndQuit`: the message's outcome as a promise. */
  #send(message: Message, envelope: Envelope | undefined, quitAfter: boolean, options?: SendOptions): Promise<SendResult> {
    return new Promise<SendResult>((resolve, reject) => this.#submit(message, envelope, quitAfter, options, { resolve, reject }));
  }

  /**
   * Prepares one message and queues its transaction on this connection; its outcome goes to
   * `outcome` (once). `sendMany` calls it directly (`[SUBMIT]`), without a promise per message.
   */
  #submit(message: Message, envelope: Envelope | undefined, quitAfter: boolean, options: SendOptions | undefined, outcome: Outcome): void {
    if (this.#closing) return outcome.reject(clientClosed());
    const broken = this.#pipeline.broken;
    if (broken) return outcome.reject(broken);
    let prepared: PreparedMessage;
    let command: string;
    try {
      prepared = prepareMessage(message, envelope);
      if (prepared.size === undefined && options?.size !== undefined) prepared = withSize(prepared, options.size);
      command = mailCommand(prepared, this.#server.capabilities);
    } catch (error) {
      return outcome.reject(preparationFailure(error));
    }
    if (quitAfter) this.#closing = true; // no send may queue behind the QUIT
    const ctx = this.#transaction;
    const run = ctx.chunking ? bdatTransaction : transaction; // one contract: the outcome goes to `outcome`
    this.#pipeline.serialize(() => run(ctx, prepared, command, this.pipelining, quitAfter, outcome));
  }

  /** @internal `sendMany`'s entry: `#submit` for a message that is not QUIT's and has no options. */
  [SUBMIT](message: Message, envelope: Envelope | undefined, outcome: Outcome): void {
    this.#submit(message, envelope, false, undefined, outcome);
  }

  /** RSET: abandons any transaction state on the server. */
  async reset(): Promise<SmtpReply> {
    return this.#pipeline.exclusive(async () => {
      const reply = await this.#pipeline.command("mail", "RSET");
      if (reply.code !== 250) throw SmtpError.fromReply("mail", "the server refused RSET", reply, "RSET", this.#pipeline.redact);
      return reply;
    });
  }

  /** NOOP: checks the connection is alive. */
  async noop(): Promise<SmtpReply> {
    return this.#pipeline.exclusive(() => this.#pipeline.command("mail", "NOOP"));
  }

  /** Waits for queued sends, sends QUIT, and closes. Never throws for a server that already hung up. */
  async quit(): Promise<void> {
    if (this.#closing) return;
    await this.#pipeline.exclusive(() => this.#quitNow());
  }

  async #quitNow(): Promise<void> {
    await this.#pipeline.drained();
    this.#closing = true;
    await this.#pipeline.quit();
  }

  /** Closes the connection at once, without QUIT. Queued sends fail. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#pipeline.fail(new SmtpError("quit", "client-closed", "the client was closed."), new TransportError("closed", "The client was closed."));
  }
}

/** A stream whose size the caller knows (a file): declared in MAIL FROM SIZE= (RFC 1870). */
function withSize(prepared: PreparedMessage, size: number): PreparedMessage {
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError(`options.size must be a whole number of octets, not ${String(size)}.`);
  return { ...prepared, size };
}

function clientClosed(): SmtpError {
  return new SmtpError("mail", "client-closed", "the client is closed.");
}

/** The error for a message that could not be prepared (a refused input keeps its `SmtpError`). */
function preparationFailure(error: unknown): SmtpError {
  if (error instanceof SmtpError) return error;
  return new SmtpError("mail", "invalid-input", `the message could not be prepared: ${(error as Error).message}`, { cause: error });
}

/**
 * Ends a connect that failed after the socket opened, and rejects with its `SmtpError`. After a
 * refused AUTH the session is sound: it is ended politely (QUIT gets its own reply deadline);
 * otherwise the socket is destroyed. (Apart from `connect`, which every session runs, so that the
 * optimiser compiles the usual path without this one.)
 */
async function abandon(pipeline: CommandPipeline, error: unknown): Promise<never> {
  const failure = transportFailure(error, "greeting", undefined, pipeline.redact);
  pipeline.limit = undefined;
  if (failure.phase === "authenticate" && !pipeline.broken && !pipeline.line.closed) await pipeline.quit().catch(noop);
  else pipeline.line.destroy();
  throw failure;
}

/**
 * One message over a fresh connection: connect (and authenticate), send, QUIT. With PIPELINING
 * the QUIT travels with the message's final dot (`SmtpClient.sendAndQuit`).
 */
export async function sendMail(options: SmtpClientOptions, message: Message, envelope?: Envelope): Promise<SendResult> {
  const client = await SmtpClient.connect(options);
  return client.sendAndQuit(message, envelope);
}

/** C0 and C1 control characters and DEL: a hostile server's escape sequences (window title, clipboard, screen). */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const escapeControl = (c: string): string => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/**
 * A transcript sink that prints `>> ` for client lines, `<< ` for server lines and `** ` for
 * local notes. Secrets arrive already masked; control characters from the network are printed as
 * `\xHH`, so a server cannot drive the terminal with escape sequences (OpenSSH CVE-2019-6109).
 */
export function printTranscript(write: (text: string) => void = (text) => process.stderr.write(text)): TranscriptSink {
  return (entry) => write(`${entry.direction === "C" ? ">>" : entry.direction === "S" ? "<<" : "**"} ${entry.text.replace(CONTROL, escapeControl)}\n`);
}
