/**
 * Mail transactions (RFC 5321 §3.3): MAIL, RCPT per recipient, DATA, the dot-stuffed body and
 * its final reply. With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out as one group;
 * SIZE (RFC 1870), BODY=8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531) are added when the server
 * offers them and the message needs them.
 */
import type { TranscriptSink } from "@saslkit/transport";
import { Deadline } from "@saslkit/transport";
import { DotEncoder } from "./data.js";
import { SmtpError } from "./errors.js";
import { addressProblem, needsSmtpUtf8, type Envelope, type PreparedMessage } from "./message.js";
import type { PipeliningMode } from "./options.js";
import type { CommandPipeline } from "./pipeline.js";
import { formatReply, type SmtpCapabilities, type SmtpReply } from "./reply.js";

/** A refused recipient and the server's reply. */
export interface RejectedRecipient {
  readonly address: string;
  readonly reply: SmtpReply;
}

export interface SendResult {
  readonly envelope: Envelope;
  /** Recipients the server accepted (the message went to these). */
  readonly accepted: readonly string[];
  /** Recipients refused at RCPT time. */
  readonly rejected: readonly RejectedRecipient[];
  /** The final reply after the message data. */
  readonly reply: SmtpReply;
  /** The queue id parsed from the final reply (Postfix `queued as X`, Exim `id=X`, ...), when recognised. */
  readonly queueId: string | undefined;
  /** Message octets sent after dot-stuffing and CRLF normalisation. */
  readonly bytes: number;
}

/** What a transaction needs besides the message. */
export interface TransactionContext {
  readonly pipeline: CommandPipeline;
  /** Deadline for sending one body and for its final reply. */
  readonly dataMs: number;
  readonly transcript: TranscriptSink | undefined;
  /** Send with BDAT (RFC 3030): the server offers CHUNKING and `chunking` is not false. */
  readonly chunking?: boolean;
  /** The server offers BINARYMIME (with CHUNKING). */
  readonly binaryMime?: boolean;
}

const QUEUE_ID = [/queued as ([A-Za-z0-9._-]+)/i, /\bid=([A-Za-z0-9._-]+)/, /InternalId=(\d+)/];

/** Extracts a queue id from a final DATA reply, or undefined. */
export function parseQueueId(reply: SmtpReply): string | undefined {
  for (const re of QUEUE_ID) {
    const m = re.exec(reply.text);
    if (m) return m[1];
  }
  return undefined;
}

const is2xx = (reply: SmtpReply) => reply.code >= 200 && reply.code < 300;
const noop = (): void => undefined;
const END_OF_DATA = Buffer.from(".\r\n");
/** A streamed body yields to the event loop after this many bytes (keeps stalls far below 20 ms). */
const YIELD_BYTES = 256 * 1024;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Checks the envelope against the server's extensions and builds the MAIL command. Throws `SmtpError`. */
export function mailCommand(prepared: PreparedMessage, caps: SmtpCapabilities): string {
  const env = prepared.envelope;
  if (env.to.length === 0) throw new SmtpError("rcpt", "invalid-input", "the envelope has no recipients.");
  let utf8 = false;
  for (let i = -1; i < env.to.length; i++) {
    const address = i < 0 ? env.from : env.to[i]!;
    const problem = addressProblem(address);
    if (problem) throw new SmtpError(i < 0 ? "mail" : "rcpt", "invalid-input", `the address "${address.replace(/[\r\n]/g, " ")}" ${problem}.`);
    if (!utf8 && needsSmtpUtf8(address)) utf8 = true;
  }
  if (utf8 && !caps.smtpUtf8) throw new SmtpError("mail", "smtputf8-required", "an address is not ASCII and the server does not offer SMTPUTF8.");
  if (prepared.size !== undefined && caps.size && prepared.size > caps.size) {
    throw new SmtpError("mail", "message-too-large", `the message is ${prepared.size} octets and the server accepts at most ${caps.size}.`);
  }
  let params = "";
  if (prepared.size !== undefined && caps.size !== undefined) params += ` SIZE=${prepared.size}`;
  if (caps.eightBitMime && (prepared.eightBit !== false || utf8)) params += " BODY=8BITMIME";
  if (utf8) params += " SMTPUTF8";
  return `MAIL FROM:<${env.from}>${params}`;
}

/**
 * The write half of a transaction; resolves, once the next transaction may be written, with a
 * function awaiting the final reply. In "full" pipelining that is right after the final dot.
 * With `quitAfter` and pipelining, QUIT leaves with the final dot.
 */
export async function transaction(
  ctx: TransactionContext,
  prepared: PreparedMessage,
  mailCommand: string,
  mode: PipeliningMode,
  quitAfter: boolean,
): Promise<() => Promise<SendResult>> {
  const pipeline = ctx.pipeline;
  if (pipeline.broken) throw pipeline.broken;
  const env = prepared.envelope;
  const to = env.to;
  const accepted: string[] = [];
  const rejected: RejectedRecipient[] = [];
  let mailReply: SmtpReply;
  let dataReply: SmtpReply | undefined;

  if (mode !== "off") {
    // RFC 2920: MAIL, every RCPT and DATA in one write; replies come back in order.
    let group = `${mailCommand}\r\n`;
    for (const a of to) group += `RCPT TO:<${a}>\r\n`;
    group += "DATA\r\n";
    await pipeline.write("mail", group, mailCommand);
    const last = to.length + 1;
    const values = await pipeline.expectGroup(to.length + 2, (i) => (i === 0 ? ["mail", mailCommand] : i === last ? ["data", "DATA"] : ["rcpt", `RCPT TO:<${to[i - 1]}>`]));
    mailReply = values[0]!;
    for (let i = 0; i < to.length; i++) {
      const reply = values[i + 1]!;
      if (is2xx(reply)) accepted.push(to[i]!);
      else rejected.push({ address: to[i]!, reply });
    }
    dataReply = values[last]!;
  } else {
    mailReply = await pipeline.command("mail", mailCommand);
    if (is2xx(mailReply)) {
      for (const address of to) {
        const reply = await pipeline.command("rcpt", `RCPT TO:<${address}>`);
        if (is2xx(reply)) accepted.push(address);
        else rejected.push({ address, reply });
      }
      if (accepted.length) dataReply = await pipeline.command("data", "DATA");
    }
  }

  let failure: SmtpError | undefined;
  if (!is2xx(mailReply)) failure = SmtpError.fromReply("mail", "the server refused the sender", mailReply, mailCommand);
  else if (!accepted.length) {
    const first = rejected[0]!;
    failure = new SmtpError("rcpt", "no-recipients", `the server refused every recipient (first: ${formatReply(first.reply)}).`, { reply: first.reply, command: `RCPT TO:<${first.address}>` });
  } else if (dataReply && dataReply.code !== 354) failure = SmtpError.fromReply("data", "the server refused DATA", dataReply, "DATA");
  if (failure) {
    failure.rejected = rejected;
    failure.envelope = env;
    if (dataReply?.code === 354) {
      // A server that said 354 anyway gets an empty message, which the RSET below discards.
      await pipeline.write("data", ".\r\n", ".");
      await pipeline.expect("data", ".").catch(noop);
    }
    await pipeline.command("mail", "RSET").catch(noop);
    throw failure;
  }

  const bytes = await sendBody(ctx, prepared);
  const finalReply = pipeline.expect("data", ".", ctx.dataMs);
  if (quitAfter && mode !== "off") pipeline.writeQuit(); // same tick as the final dot: same write
  const finish = (): Promise<SendResult> =>
    finalReply.then(
      (reply) => {
        if (reply.code !== 250) throw Object.assign(SmtpError.fromReply("data", "the server refused the message", reply, "."), { rejected, envelope: env });
        return { envelope: env, accepted, rejected, reply, queueId: parseQueueId(reply), bytes };
      },
      (error: unknown) => {
        throw unknownOutcome(error, env);
      },
    );
  if (mode === "full") return finish; // the next transaction may be written now
  const result = finish();
  await result.then(noop, noop);
  return () => result;
}

/** Writes the body, dot-stuffed, and the final dot. Resolves with the body's octets on the wire. */
async function sendBody(ctx: TransactionContext, prepared: PreparedMessage): Promise<number> {
  const pipeline = ctx.pipeline;
  const deadline = Deadline.in(ctx.dataMs);
  const stuffer = new DotEncoder();
  if (prepared.bytes) {
    // In memory: encode at once and write body and final dot as one buffer (no stream hops).
    const body = stuffer.encodeWithEnd(prepared.bytes);
    const size = body.length - END_OF_DATA.length;
    ctx.transcript?.({ direction: "*", text: `message body: ${size} octets` });
    await pipeline.write("data", body, "DATA", { transcript: false, deadline });
    ctx.transcript?.({ direction: "C", text: "." });
    return size;
  }
  let size = 0;
  let sinceYield = 0;
  // Each chunk goes out as views of itself around the stuffed dots (no copy), so memory stays
  // flat whatever the chunk size: only the chunk being written is held.
  const pieces: Buffer[] = [];
  try {
    for await (const chunk of prepared.body) {
      const input = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
      pieces.length = 0;
      const n = stuffer.encodeInto(input, pieces);
      if (n === 0) continue;
      size += n;
      sinceYield += n;
      await pipeline.writePieces("data", pieces, "DATA", deadline);
      // A source that produces synchronously into a socket whose kernel buffer keeps
      // accepting would never return to the event loop: yield every YIELD_BYTES.
      if (sinceYield >= YIELD_BYTES) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
    }
  } catch (error) {
    if (error instanceof SmtpError) throw error;
    // The message could not be read: a "." now would deliver a truncated message. Close instead.
    const failure = new SmtpError("data", "invalid-input", `reading the message failed (${(error as Error)?.message ?? String(error)}); the connection was closed so that no partial message is delivered.`, { cause: error });
    pipeline.fail(failure);
    throw failure;
  }
  const tail = stuffer.finish();
  size += tail.length;
  ctx.transcript?.({ direction: "*", text: `message body: ${size} octets` });
  await pipeline.write("data", tail.length ? Buffer.concat([tail, END_OF_DATA]) : END_OF_DATA, ".", { mask: "." });
  return size;
}

/**
 * The error for a message whose final reply never came: a connection that closed or timed out
 * after the final dot leaves the outcome unknown (RFC 1047), so it gets its own code. Other
 * failures (an unreadable reply) keep theirs.
 */
export function unknownOutcome(error: unknown, envelope: Envelope): unknown {
  if (!(error instanceof SmtpError) || (error.code !== "closed" && error.code !== "timeout")) {
    if (error instanceof SmtpError) error.envelope ??= envelope;
    return error;
  }
  const what = error.code === "closed" ? "the connection closed" : "the server did not answer in time";
  const rcpt = envelope.to.length === 1 ? `<${envelope.to[0]}>` : `<${envelope.to[0]}> and ${envelope.to.length - 1} more`;
  const failure = new SmtpError(
    "data",
    "outcome-unknown",
    `${what} after the message's final dot and before the server's reply, so the server may have accepted the message from <${envelope.from}> to ${rcpt}; check before resending it, or it may be delivered twice (RFC 1047).`,
    { cause: error, command: "." },
  );
  failure.envelope = envelope;
  return failure;
}
