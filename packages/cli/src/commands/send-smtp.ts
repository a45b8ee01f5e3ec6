/**
 * The network half of `saslkit send`: connect, negotiate, send, report.
 */
import { Readable, Transform } from "node:stream";
import { SmtpClient, formatReply, type Message } from "@saslkit/smtp";
import type { TranscriptSink } from "@saslkit/transport";
import { formatBytes, formatTranscriptEntry } from "../format.js";
import type { CliIo } from "../io.js";
import { installedProviders } from "../mechanisms.js";
import type { SendRequest } from "./send.js";

const CHUNK = 64 * 1024;

/** A Readable over `data` that reports how many bytes the client has taken so far. */
export function progressStream(data: Buffer, report: (sent: number, total: number) => void): Readable {
  let sent = 0;
  let lastShown = -1;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length;
      const step = Math.floor((sent / data.length) * 20);
      if (step !== lastShown) {
        lastShown = step;
        report(sent, data.length);
      }
      done(null, chunk);
    },
  });
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK) chunks.push(data.subarray(at, at + CHUNK));
  return Readable.from(chunks).pipe(counter);
}

export async function deliver(request: SendRequest, password: string, io: CliIo): Promise<void> {
  const providers = await installedProviders();
  const transcript: TranscriptSink | undefined = request.debug ? (entry) => io.stderr.write(`${formatTranscriptEntry(entry)}\n`) : undefined;
  const client = await SmtpClient.connect({
    host: request.host,
    port: request.port,
    // STARTTLS without --require-tls is the client's TLS default (which still refuses credentials in clear to a remote host).
    ...(request.tls === "starttls" && !request.requireTls ? {} : { tls: request.tls }),
    tlsOptions: request.tlsOptions,
    auth: { username: request.user, password },
    mechanisms: providers,
    ...(request.mechanism !== undefined ? { policy: { force: request.mechanism } } : {}),
    ...(transcript ? { transcript } : {}),
  });
  try {
    io.stderr.write(`Authenticated as ${request.user} with ${client.authenticatedWith ?? "?"} ${client.secure ? "over TLS" : "without TLS"}.\n`);
    let message: Message;
    if (request.message.kind === "raw") {
      const tty = io.stderr.isTTY === true;
      message = request.progress
        ? progressStream(request.message.data, (sent, total) => {
            const line = `sent ${formatBytes(sent)} of ${formatBytes(total)} (${Math.round((sent / total) * 100)}%)`;
            io.stderr.write(tty ? `\r${line}${sent >= total ? "\n" : ""}` : `${line}\n`);
          })
        : request.message.data;
    } else {
      message = { from: request.from, to: [...request.to], subject: request.message.subject, text: request.message.text };
    }
    const result = await client.send(message, { from: request.from, to: request.to });
    for (const r of result.rejected) io.stderr.write(`refused recipient ${r.address}: ${formatReply(r.reply)}\n`);
    io.stdout.write(`Sent ${formatBytes(result.bytes)} to ${result.accepted.join(", ")}: ${formatReply(result.reply)}\n`);
  } finally {
    await client.quit().catch(() => client.close());
  }
}
