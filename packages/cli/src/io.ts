/**
 * The command line's view of the outside world, injectable so tests run commands in-process.
 */
import { Writable } from "node:stream";
import { createInterface } from "node:readline";

/** A text sink; `isTTY` decides whether progress is shown. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** Everything a command may touch besides the network. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Message body source when neither --body nor --file is given. */
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Asks for a secret without echoing it. Rejects when there is no terminal to ask on. */
  promptSecret(prompt: string): Promise<string>;
  /** Reads a file (message.eml, a CA certificate). */
  readFile(path: string): Promise<Buffer>;
}

/** A usage or input mistake: printed with the usage hint, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The real process: stdio, environment and a hidden tty prompt. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    promptSecret: (prompt) => promptHidden(prompt, process.stdin, process.stderr),
    readFile: async (path) => (await import("node:fs/promises")).readFile(path),
  };
}

/**
 * Reads one line from a terminal without echo: readline writes its echo into a muted stream,
 * only the prompt itself reaches the terminal. Ctrl-C or EOF rejects.
 */
export function promptHidden(prompt: string, input: NodeJS.ReadableStream & { isTTY?: boolean }, output: OutputStream): Promise<string> {
  if (!input.isTTY) {
    return Promise.reject(new UsageError("No password: set SASLKIT_PASSWORD, or run in a terminal to be asked for it."));
  }
  return new Promise((resolve, reject) => {
    let muted = false;
    const sink = new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        if (!muted) output.write(chunk.toString());
        done();
      },
    });
    const rl = createInterface({ input, output: sink, terminal: true });
    let answered = false;
    rl.on("SIGINT", () => {
      rl.close();
    });
    rl.on("close", () => {
      output.write("\n");
      if (!answered) reject(new UsageError("Password prompt cancelled."));
    });
    rl.question(prompt, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    muted = true;
  });
}

/** Reads a stream to its end (the message body from stdin). */
export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
