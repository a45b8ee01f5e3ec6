/**
 * Mail transactions with BDAT (RFC 3030 CHUNKING) instead of DATA, used when the server offers
 * CHUNKING (unless `chunking: false`).
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
import { Deadline } from "@saslkit/transport";
import { DotEncoder } from "./data.js";
import { SmtpError } from "./errors.js";
import { MessageIdSniffer, type PreparedMessage } from "./message.js";
import type { PipeliningMode } from "./options.js";
import type { SmtpReply } from "./reply.js";
import {
  YIELD_BYTES,
  chunkBytes,
  envelopeFailure,
  envelopeLines,
  failUnreadableSource,
  pipelinedEnvelope,
  redactRejected,
  sendResult,
  sortEnvelope,
  stepwiseEnvelope,
  streamChunks,
  unknownOutcome,
  yieldToEventLoop,
  type EnvelopeReplies,
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

/** An acknowledgement that never rejects (a rejection unread until the end would be "unhandled"). */
type Ack = Promise<{ reply?: SmtpReply; error?: unknown }>;
const settle = (p: Promise<SmtpReply>): Ack =>
  p.then(
    (reply) => ({ reply }),
    (error: unknown) => ({ error }),
  );

/**
 * One transaction with BDAT. Resolves, once the final reply is in, with a function returning the
 * result (the same shape `transaction` gives, so the client queues both alike).
 */
export async function bdatTransaction(
  ctx: TransactionContext,
  prepared: PreparedMessage,
  mailCommand: string,
  mode: PipeliningMode,
  quitAfter: boolean,
  binary: boolean,
): Promise<() => Promise<SendResult>> {
  const pipeline = ctx.pipeline;
  if (pipeline.broken) throw pipeline.broken;
  const env = prepared.envelope;
  const to = env.to;
  const command = binary ? binaryMailCommand(mailCommand) : mailCommand;
  const deadline = Deadline.in(ctx.dataMs);

  // An in-memory body is encoded up front: its size goes in the BDAT command.
  let inline: { pieces: Buffer[]; size: number } | undefined;
  if (prepared.bytes && prepared.bytes.length <= INLINE_BYTES && mode !== "off") {
    const pieces: Buffer[] = [];
    let size: number;
    if (binary) {
      pieces.push(prepared.bytes);
      size = prepared.bytes.length;
    } else {
      const enc = new DotEncoder({ stuffDots: false });
      size = enc.encodeInto(prepared.bytes, pieces);
      const tail = enc.finish();
      if (tail.length) pieces.push(tail);
      size += tail.length;
    }
    inline = { pieces, size };
  }

  let replies: EnvelopeReplies;
  let bdatReply: SmtpReply | undefined;
  if (inline) {
    // MAIL, RCPT..., BDAT <n> LAST and the body: one write, one round trip.
    const bdat = `BDAT ${inline.size} LAST`;
    // Write failures surface through the replies below (the pipeline is broken then).
    pipeline.write("mail", envelopeLines(command, to), command).catch(noop);
    pipeline.write("data", `${bdat}\r\n`, bdat).catch(noop);
    ctx.transcript?.({ direction: "*", text: `message body: ${inline.size} octets` });
    pipeline.writePieces("data", inline.pieces, bdat, deadline).catch(noop);
    // The server may hold the MAIL and RCPT replies until it has taken the message: the whole group
    // gets the final reply's deadline. It is queued before QUIT's reply, which comes after it.
    const last = to.length + 1;
    const group = pipeline.expectGroup(to.length + 2, (i) => (i === 0 ? ["mail", command] : i === last ? ["data", bdat] : ["rcpt", `RCPT TO:<${to[i - 1]}>`]), ctx.dataMs);
    if (quitAfter) pipeline.writeQuit();
    let values: SmtpReply[];
    try {
      values = await group;
    } catch (error) {
      // The whole message was written: the server may have taken it before the link failed.
      throw unknownOutcome(error, env);
    }
    replies = sortEnvelope(to, values, undefined);
    bdatReply = values[to.length + 1]!;
  } else replies = mode !== "off" ? await pipelinedEnvelope(pipeline, command, to, false) : await stepwiseEnvelope(pipeline, command, to, false);

  // No DATA in a BDAT transaction: the sender and the recipients decide.
  const failure = envelopeFailure(pipeline, command, replies);
  if (failure) {
    failure.rejected = redactRejected(replies.rejected, pipeline.redact);
    failure.envelope = env;
    // The transaction is still open on the server (a BDAT after a refused RCPT is refused too).
    if (!quitAfter || !inline) await pipeline.command("mail", "RSET").catch(noop);
    throw failure;
  }

  let bytes: number;
  let finalReply: SmtpReply;
  let messageId = prepared.messageId;
  if (inline) {
    bytes = inline.size;
    finalReply = bdatReply!;
  } else {
    const sent = await sendChunks(ctx, prepared, mode, binary, deadline);
    bytes = sent.bytes;
    messageId ??= sent.messageId;
    if (quitAfter && mode !== "off") pipeline.writeQuit(); // same tick as the LAST chunk
    let last: SmtpReply;
    try {
      last = await sent.final;
    } catch (error) {
      throw unknownOutcome(error, env);
    }
    const refused = await sent.firstRefusal();
    finalReply = refused ?? last;
  }

  if (finalReply.code !== 250) {
    const error = Object.assign(SmtpError.fromReply("data", "the server refused the message", finalReply, "BDAT", pipeline.redact), { rejected: redactRejected(replies.rejected, pipeline.redact), envelope: env });
    if (!quitAfter) await pipeline.command("mail", "RSET").catch(noop);
    throw error;
  }
  const result = sendResult(env, replies.accepted, replies.rejected, finalReply, messageId, bytes, pipeline.redact);
  return () => Promise.resolve(result);
}

/**
 * Streams the body as BDAT chunks; resolves once the LAST chunk is written, with the octets sent,
 * the final reply (pending) and the first refused chunk's reply, if any.
 */
async function sendChunks(
  ctx: TransactionContext,
  prepared: PreparedMessage,
  mode: PipeliningMode,
  binary: boolean,
  deadline: Deadline,
): Promise<{ bytes: number; messageId: string | undefined; final: Promise<SmtpReply>; firstRefusal: () => Promise<SmtpReply | undefined> }> {
  const pipeline = ctx.pipeline;
  const sniffer = prepared.messageId === undefined ? new MessageIdSniffer() : undefined;
  const enc = binary ? undefined : new DotEncoder({ stuffDots: false });
  const acks: Ack[] = [];
  let bytes = 0;
  let sinceYield = 0;
  let pending: Buffer[] = [];
  let pendingSize = 0;

  const flushChunk = async (last: boolean): Promise<void> => {
    const size = pendingSize;
    const bdat = last ? `BDAT ${size} LAST` : `BDAT ${size}`;
    const pieces = pending;
    pending = [];
    pendingSize = 0;
    pipeline.write("data", `${bdat}\r\n`, bdat).catch(noop); // a failure also fails the pieces' write
    const written = size ? pipeline.writePieces("data", pieces, bdat, deadline) : Promise.resolve();
    bytes += size;
    if (last) return written;
    const ack = settle(pipeline.expect("data", bdat, ctx.dataMs));
    acks.push(ack);
    await written;
    if (mode === "off") await ack; // without PIPELINING every BDAT waits for its reply
  };

  const source = binary && prepared.bytes ? [prepared.bytes] : streamChunks(prepared.body);
  try {
    for await (const chunk of source) {
      const input = chunkBytes(chunk);
      if (sniffer?.active) sniffer.push(input);
      if (enc) pendingSize += enc.encodeInto(input, pending);
      else {
        pending.push(input);
        pendingSize += input.length;
      }
      if (pendingSize >= CHUNK_BYTES) {
        sinceYield += pendingSize;
        await flushChunk(false);
        if (sinceYield >= YIELD_BYTES) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    }
  } catch (error) {
    failUnreadableSource(pipeline, error);
  }
  if (enc) {
    const tail = enc.finish();
    if (tail.length) {
      pending.push(tail);
      pendingSize += tail.length;
    }
  }
  ctx.transcript?.({ direction: "*", text: `message body: ${bytes + pendingSize} octets` });
  const lastWritten = flushChunk(true);
  const final = pipeline.expect("data", "BDAT LAST", ctx.dataMs);
  final.catch(noop); // awaited by the caller once the LAST chunk is written; not "unhandled" meanwhile
  await lastWritten;
  sniffer?.finish();
  return {
    bytes,
    messageId: sniffer?.messageId,
    final,
    firstRefusal: async () => {
      for (const ack of acks) {
        const a = await ack;
        if (a.reply && a.reply.code !== 250) return a.reply;
      }
      return undefined;
    },
  };
}
