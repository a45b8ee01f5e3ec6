/**
 * Mail transactions with BDAT (RFC 3030 CHUNKING) instead of DATA, used when the server offers
 * CHUNKING (unless `chunking: false`). `bdatTransaction` has `transaction`'s contract (same
 * arguments, the outcome to the same `Outcome`), so the client submits both kinds alike.
 *
 * BDAT carries an exact octet count, so there is no end marker: no dot-stuffing, no 354 step.
 * Line ends are still repaired to CRLF (the message must be the same as with DATA), except for
 * BODY=BINARYMIME, whose octets go verbatim. An in-memory message of up to `INLINE_BYTES` leaves
 * in one write with its MAIL and RCPT commands (`BDAT <n> LAST`): one round trip per message. A
 * stream (or a bigger message) waits for the MAIL/RCPT replies first, then goes out as BDAT
 * chunks of at least `CHUNK_BYTES` (each a view of the source's buffers), pipelined when the
 * server offers PIPELINING, and ends with `BDAT 0 LAST` (or a last chunk marked LAST).
 *
 * Each transaction finishes (final reply read) before the next one starts: a refused RCPT must be
 * followed by RSET before another MAIL, and with BDAT the refusal is only known once the body
 * was written. A failure after the LAST chunk was written is `outcome-unknown`, as after DATA's
 * final dot.
 */
import { Deadline, WRITTEN } from "@saslkit/transport";
import { DotEncoder } from "./data.js";
import type { Envelope, PreparedMessage } from "./message.js";
import type { PipeliningMode } from "./options.js";
import { ignoreWriteFailure as ignore, type CommandPipeline } from "./pipeline.js";
import type { SmtpReply } from "./reply.js";
import {
  abandon,
  envelopeFailure,
  envelopeLines,
  groupMember,
  noteBodySize,
  pipelinedEnvelope,
  pumpBody,
  refusedMessage,
  resetAfterRefusal,
  sendResult,
  sortEnvelope,
  stepwiseEnvelope,
  unknownOutcome,
  withEnvelope,
  type EnvelopeReplies,
  type Outcome,
  type SendResult,
  type TransactionContext,
} from "./transaction.js";

/** In-memory messages up to this size go out in one write with their MAIL and RCPT. */
export const INLINE_BYTES = 256 * 1024;
/** A streamed body is sent in BDAT chunks of at least this many octets (fewer replies to read). */
export const CHUNK_BYTES = 256 * 1024;
const noop = (): void => undefined;

/**
 * True when the message must go as BODY=BINARYMIME: it is in memory and holds a NUL octet,
 * which neither 7BIT nor 8BITMIME (RFC 6152) may carry.
 */
export function needsBinaryMime(prepared: PreparedMessage): boolean {
  return prepared.bytes !== undefined && prepared.bytes.indexOf(0) >= 0;
}

/** The MAIL command with BODY=BINARYMIME in place of any other BODY parameter. */
export function binaryMailCommand(command: string): string {
  return `${command.replace(/ BODY=[A-Z0-9]+/, "")} BODY=BINARYMIME`;
}

/**
 * One mail transaction over BDAT: `transaction`'s contract. The message's outcome goes to
 * `outcome`, once: the `SendResult`, or the `SmtpError` `send` rejects with (a refusal after an
 * RSET; `outcome-unknown` when the connection failed after the LAST chunk). Returns the write
 * half, a promise that never rejects and, with BDAT, settles once the final reply (and any RSET)
 * is in. With `quitAfter` and pipelining, QUIT leaves with the LAST chunk.
 *
 * The message goes as BODY=BINARYMIME when the server offers it and the message needs it
 * (`needsBinaryMime`).
 */
export function bdatTransaction(ctx: TransactionContext, prepared: PreparedMessage, mailCommand: string, mode: PipeliningMode, quitAfter: boolean, outcome: Outcome): Promise<void> {
  const pipeline = ctx.pipeline;
  if (pipeline.broken) {
    outcome.reject(pipeline.broken);
    return WRITTEN;
  }
  try {
    const binary = ctx.binaryMime === true && needsBinaryMime(prepared);
    const command = binary ? binaryMailCommand(mailCommand) : mailCommand;
    const bytes = prepared.bytes;
    if (bytes !== undefined && bytes.length <= INLINE_BYTES && mode !== "off") return sendInline(ctx, prepared, bytes, command, binary, quitAfter, outcome);
    return sendChunked(ctx, prepared, command, mode, binary, quitAfter).then(outcome.resolve, outcome.reject);
  } catch (error) {
    outcome.reject(error); // a bug, not a protocol failure: still one outcome per message
    return WRITTEN;
  }
}

/** A message in memory: MAIL, RCPT..., `BDAT <n> LAST` and the body in one write, their replies read as one group. */
function sendInline(ctx: TransactionContext, prepared: PreparedMessage, message: Buffer, command: string, binary: boolean, quitAfter: boolean, outcome: Outcome): Promise<void> {
  const pipeline = ctx.pipeline;
  const env = prepared.envelope;
  const to = env.to;
  // Encoded up front: its size goes in the BDAT command.
  const pieces: Buffer[] = [];
  let size = message.length;
  if (binary) pieces.push(message);
  else size = new DotEncoder({ stuffDots: false }).encodeWholeInto(message, pieces);
  const bdat = `BDAT ${size} LAST`;
  // Write failures surface through the replies below (the pipeline is broken then).
  ignore(pipeline.write("mail", envelopeLines(command, to), command));
  ignore(pipeline.write("data", `${bdat}\r\n`, bdat));
  noteBodySize(ctx.transcript, size);
  ignore(pipeline.writePieces("data", pieces, bdat, Deadline.in(ctx.dataMs)));
  // The server may hold the MAIL and RCPT replies until it has taken the message: the whole group
  // gets the final reply's deadline. It is queued before QUIT's reply, which comes after it.
  const got: SmtpReply[] = [];
  const replies = pipeline.expectGroup(to.length + 2, (i) => groupMember(command, to, i, bdat), ctx.dataMs, got);
  if (quitAfter) pipeline.writeQuit();
  return replies.then(
    (values) => {
      try {
        return afterInline(pipeline, env, command, size, prepared.messageId, outcome, values);
      } catch (error) {
        outcome.reject(error); // a bug, not a protocol failure: still one outcome per message
        return undefined;
      }
    },
    // The whole message was written: the server may have taken it before the link failed,
    // unless a reply already in says it could not.
    (error: unknown) => outcome.reject(notTaken(got, to.length) ? withEnvelope(error, env) : unknownOutcome(error, env, bdat)),
  );
}

/**
 * True when the first replies of an in-memory message's group (MAIL, the RCPTs, `BDAT ... LAST`)
 * prove the server did not take the message: MAIL refused, every recipient refused, or a 421
 * (the server closes the session; it reads nothing after it). Its link then failing before the
 * BDAT reply leaves no doubt: not sent, as when the same happens before DATA's body.
 */
function notTaken(replies: readonly SmtpReply[], recipients: number): boolean {
  if (replies.length === 0) return false;
  if (replies[0]!.code >= 300) return true;
  let accepted = false;
  for (let i = 1; i < replies.length; i++) {
    const code = replies[i]!.code;
    if (code === 421) return true;
    if (i <= recipients && code >= 200 && code < 300) accepted = true;
  }
  return !accepted && replies.length > recipients;
}

/** The replies to an in-memory message's group: the result, or the refusal (after RSET). */
function afterInline(
  pipeline: CommandPipeline,
  env: Envelope,
  command: string,
  size: number,
  messageId: string | undefined,
  outcome: Outcome,
  values: SmtpReply[],
): Promise<void> | undefined {
  const last = env.to.length + 1;
  const replies = sortEnvelope(env.to, values, undefined);
  // No DATA in a BDAT transaction: the sender and the recipients decide.
  const failure = envelopeFailure(pipeline, command, replies);
  if (failure) return abandon(pipeline, failure, env, replies).then(undefined, outcome.reject);
  const reply = values[last]!;
  if (reply.code === 250) {
    outcome.resolve(sendResult(env, replies.accepted, replies.rejected, reply, messageId, size, pipeline.redact));
    return undefined;
  }
  // A refused BDAT leaves the transaction open on the server (a BDAT after it is refused too).
  const refused = refusedMessage(pipeline, reply, "BDAT", env, replies);
  return resetAfterRefusal(pipeline).then(() => outcome.reject(refused));
}

/** A streamed (or bigger) message: the envelope's replies first, then the body in chunks. Rejects with the message's `SmtpError`. */
async function sendChunked(ctx: TransactionContext, prepared: PreparedMessage, command: string, mode: PipeliningMode, binary: boolean, quitAfter: boolean): Promise<SendResult> {
  const pipeline = ctx.pipeline;
  const env = prepared.envelope;
  const to = env.to;
  const replies = mode !== "off" ? await pipelinedEnvelope(pipeline, command, to, false) : await stepwiseEnvelope(pipeline, command, to, false);
  // No DATA in a BDAT transaction: the sender and the recipients decide.
  const failure = envelopeFailure(pipeline, command, replies);
  if (failure) return abandon(pipeline, failure, env, replies);

  const sent = await sendChunks(ctx, prepared, mode, binary);
  let last: SmtpReply | undefined; // undefined: a chunk was refused and no LAST went out
  if (sent.final) {
    if (quitAfter && mode !== "off") pipeline.writeQuit(); // QUIT's reply after the final one
    try {
      last = await sent.final;
    } catch (error) {
      throw unknownOutcome(error, env, "BDAT LAST");
    }
  }
  const reply = ((await sent.firstRefusal()) ?? last)!;
  if (reply.code !== 250) {
    const refused = refusedMessage(pipeline, reply, "BDAT", env, replies);
    await resetAfterRefusal(pipeline); // as for an in-memory message
    throw refused;
  }
  return sendResult(env, replies.accepted, replies.rejected, reply, sent.messageId, sent.bytes, pipeline.redact);
}

interface ChunksSent {
  /** Octets of the body on the wire. */
  readonly bytes: number;
  readonly messageId: string | undefined;
  /**
   * The reply to the LAST chunk (pending; not "unhandled" meanwhile), or undefined when no LAST
   * chunk went out because an earlier chunk was refused.
   */
  readonly final: Promise<SmtpReply> | undefined;
  /** The first refused chunk's reply, if any, once every earlier chunk's reply is in. */
  readonly firstRefusal: () => Promise<SmtpReply | undefined>;
}

/**
 * Streams the body as BDAT chunks; resolves once the LAST chunk is written. Once a chunk's
 * refusal has come back no further chunk goes out, LAST included (RFC 3030 §2: the transaction
 * has failed and the client MUST NOT send more BDAT segments); the source is then left unread.
 */
async function sendChunks(ctx: TransactionContext, prepared: PreparedMessage, mode: PipeliningMode, binary: boolean): Promise<ChunksSent> {
  const pipeline = ctx.pipeline;
  const deadline = Deadline.in(ctx.dataMs);
  const encoder = binary ? undefined : new DotEncoder({ stuffDots: false });
  // Chunk replies come in order: the first refusal is set first, and once the latest chunk's
  // reply is in, so are all before it. A failed read fails the LAST chunk's reply too.
  let refused: SmtpReply | undefined;
  let acked: Promise<unknown> = WRITTEN;
  const onAck = (reply: SmtpReply): void => {
    if (reply.code !== 250) refused ??= reply;
  };
  const stopped = (): false | undefined => (refused === undefined ? undefined : false);
  let bytes = 0;
  // The chunk being gathered: views of the source's buffers (the socket keeps its own list once written).
  const pieces: Buffer[] = [];
  let pending = 0;

  const flush = (last: boolean): Promise<unknown> => {
    const size = pending;
    const bdat = last ? `BDAT ${size} LAST` : `BDAT ${size}`;
    ignore(pipeline.write("data", `${bdat}\r\n`, bdat)); // a failure also fails the pieces' write
    const written = size ? pipeline.writePieces("data", pieces, bdat, deadline) : WRITTEN;
    pieces.length = 0;
    pending = 0;
    bytes += size;
    if (last) return written;
    acked = pipeline.expect("data", bdat, ctx.dataMs).then(onAck, noop);
    // Without PIPELINING every BDAT waits for its reply (and a refusal stops the body).
    return mode === "off" ? written.then(() => acked).then(stopped) : written;
  };

  const messageId = await pumpBody(pipeline, prepared, deadline, encoder, pieces, (n) => {
    if (refused) return false; // a refusal came back while this chunk was read
    return (pending += n) >= CHUNK_BYTES ? flush(false) : undefined;
  });
  const firstRefusal = () => acked.then(() => refused);
  if (refused) return { bytes, messageId, final: undefined, firstRefusal };
  if (encoder) pending += encoder.finishInto(pieces);
  noteBodySize(ctx.transcript, bytes + pending);
  const lastWritten = flush(true);
  const final = pipeline.expect("data", "BDAT LAST", ctx.dataMs);
  final.catch(noop); // awaited by the caller once the LAST chunk is written; not "unhandled" meanwhile
  await lastWritten;
  return { bytes, messageId, final, firstRefusal };
}
