/**
 * The network half of `saslkit send`: connect, negotiate, send, report.
 */
import { Readable, Transform } from "node:stream";
import { SmtpClient, formatReply, type Message } from "@saslkit/smtp";
import type { TranscriptSink } from "@saslkit/transport";
import { FailureWithContext, formatBytes, formatTranscriptEntry } from "../format.js";
import type { CliIo } from "../io.js";
import { installedProviders } from "../mechanisms.js";
import { ProgressLine } from "../terminal.js";
import type { LoadedMessage, SendRequest } from "./send.js";

const CHUNK = 64 * 1024;

/** `source` passed through unchanged, reporting the bytes the client has taken so far. */
export function countingStream(source: Readable, total: number, report: (sent: number, total: number) => void): Readable {
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      report(sent, total);
      done(null, chunk);
    },
  });
  source.on("error", (error) => counter.destroy(error));
  return source.pipe(counter);
}

/** A Readable over `data` in 64 KiB chunks that reports progress (in-memory raw messages). */
export function progressStream(data: Buffer, report: (sent: number, total: number) => void): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK) chunks.push(data.subarray(at, at + CHUNK));
  return countingStream(Readable.from(chunks), data.length, report);
}

export async function deliver(request: SendRequest, password: string, loaded: LoadedMessage, io: CliIo): Promise<void> {
  const providers = await installedProviders();
  const transcript: TranscriptSink | undefined = request.debug ? (entry) => io.stderr.write(`${formatTranscriptEntry(entry)}\n`) : undefined;
  const context = { tls: request.tls, port: request.port, installed: request.installed };
  let client: SmtpClient;
  try {
    client = await SmtpClient.connect({
      host: request.host,
      port: request.port,
      tls: request.tls,
      tlsOptions: request.tlsOptions,
      auth: { username: request.user, password },
      mechanisms: providers,
      policy: request.policy,
      ...(request.mechanismOptions ? { mechanismOptions: request.mechanismOptions } : {}),
      ...(transcript ? { transcript } : {}),
    });
  } catch (error) {
    if (loaded.kind === "stream") loaded.stream.destroy();
    throw new FailureWithContext(error, context);
  }
  const progress = request.progress ? new ProgressLine(io.terminal ?? io.stderr) : undefined;
  try {
    io.stderr.write(`Authenticated as ${request.user} with ${client.authenticatedWith ?? "?"} ${client.secure ? "over TLS" : "without TLS"}.\n`);
    const report = progress ? (sent: number, total: number) => progress.update(`sending: ${formatBytes(sent)} of ${formatBytes(total)} (${Math.min(100, Math.round((sent / Math.max(total, 1)) * 100))}%)`, sent >= total) : undefined;
    let message: Message;
    let size: number | undefined;
    if (loaded.kind === "compose") {
      message = { from: request.from, to: [...request.to], subject: loaded.subject, text: loaded.text };
    } else if (loaded.kind === "raw") {
      message = report ? progressStream(loaded.data, report) : loaded.data;
      size = loaded.data.length;
    } else {
      message = report ? countingStream(loaded.stream, loaded.size, report) : loaded.stream;
      size = loaded.size;
    }
    const result = await client.send(message, { from: request.from, to: request.to }, size !== undefined ? { size } : undefined);
    progress?.done();
    for (const r of result.rejected) io.stderr.write(`refused recipient ${r.address}: ${formatReply(r.reply)}\n`);
    io.stdout.write(`Sent ${formatBytes(result.bytes)} to ${result.accepted.join(", ")}: ${formatReply(result.reply)}\n`);
  } catch (error) {
    progress?.done();
    throw new FailureWithContext(error, context);
  } finally {
    if (loaded.kind === "stream") loaded.stream.destroy();
    await client.quit().catch(() => client.close());
  }
}
