/**
 * The command line's view of the outside world, injectable so tests run commands in-process.
 */
import { openSync } from "node:fs";
import { Readable, Writable } from "node:stream";
import { createInterface } from "node:readline";
import tty from "node:tty";

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
  /**
   * Opens a message file for streaming, with its size (declared to the server up front). Absent:
   * the file is read with `readFile`.
   */
  openFile?(path: string): Promise<{ readonly size: number; readonly stream: Readable }>;
  /**
   * The unfiltered stderr, for the CLI's own progress line only. `main` sets it when it wraps
   * stdout and stderr in the terminal-safety filter; nothing from the network is written here.
   */
  readonly terminal?: OutputStream;
}

/** Ctrl-C: exit status 130 (128 + SIGINT), as shells report it. */
export class Interrupted extends Error {
  override readonly name = "Interrupted";
  constructor() {
    super("interrupted.");
  }
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
    promptSecret: (prompt) => promptOnTerminal(prompt),
    readFile: async (path) => (await import("node:fs/promises")).readFile(path),
    openFile: async (path) => {
      const fs = await import("node:fs");
      const handle = await fs.promises.open(path, "r");
      try {
        const stat = await handle.stat();
        if (!stat.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: "EISDIR" });
        return { size: stat.size, stream: handle.createReadStream({ highWaterMark: 256 * 1024 }) };
      } catch (error) {
        await handle.close();
        throw error;
      }
    },
  };
}

/**
 * The password prompt of the real process. It reads from the controlling terminal, not from
 * stdin, so `saslkit send --file - < message.eml` can still ask (ssh and sudo do the same): stdin
 * when it is the terminal, else /dev/tty. Without a terminal it refuses with the way out.
 */
export function promptOnTerminal(prompt: string): Promise<string> {
  if (process.stdin.isTTY) return promptHidden(prompt, process.stdin, process.stderr);
  let readFd: number;
  let writeFd: number;
  try {
    readFd = openSync("/dev/tty", "r");
    writeFd = openSync("/dev/tty", "w");
  } catch {
    return Promise.reject(new UsageError("No password: set SASLKIT_PASSWORD, or run in a terminal to be asked for it."));
  }
  const input = new tty.ReadStream(readFd);
  const output = new tty.WriteStream(writeFd);
  return promptHidden(prompt, input, output).finally(() => {
    input.destroy();
    output.destroy();
  });
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
    let interrupted = false;
    rl.on("SIGINT", () => {
      interrupted = true;
      rl.close();
    });
    rl.on("close", () => {
      output.write("\n");
      if (!answered) reject(interrupted ? new Interrupted() : new UsageError("password prompt cancelled (end of input)."));
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
