/**
 * The POP3 wire: reads classified lines, writes masked lines and turns transport failures into
 * `Pop3Error`s. Internal.
 */
import { TransportError, type Deadline, type LineSocket } from "@saslkit/transport";
import { Pop3Error, type Pop3Phase, type Pop3Reply } from "./errors.js";
import { parseLine, type Pop3Line } from "./reply.js";

/** Replaces every secret the adapter sent (base64 responses, password) in server text. */
export class Redactor {
  readonly #secrets = new Set<string>();
  add(secret: string): void {
    if (secret.length >= 4) this.#secrets.add(secret);
  }
  scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) out = out.split(s).join("****");
    return out;
  }
  reply(r: Pop3Reply): Pop3Reply {
    return { ...r, text: this.scrub(r.text), raw: this.scrub(r.raw) };
  }
}

export function toPop3Error(error: unknown, phase: Pop3Phase, command?: string): Pop3Error {
  if (error instanceof Pop3Error) return error;
  const context = command === undefined ? {} : { command };
  if (error instanceof TransportError) return new Pop3Error(error.code, phase, error.message, { ...context, cause: error });
  return new Pop3Error("protocol-error", phase, "an unexpected error occurred.", { ...context, cause: error });
}

export class Pop3Wire {
  /** The last command line sent, credentials masked. */
  lastCommand: string | undefined;
  readonly redactor = new Redactor();

  constructor(readonly socket: LineSocket) {}

  async readRaw(deadline: Deadline, phase: Pop3Phase): Promise<string> {
    try {
      return await this.socket.readLine(deadline);
    } catch (error) {
      throw toPop3Error(error, phase, this.lastCommand);
    }
  }

  async read(deadline: Deadline, phase: Pop3Phase): Promise<Pop3Line> {
    return parseLine(await this.readRaw(deadline, phase));
  }

  /** Reads a status line; anything else is a protocol error. */
  async status(deadline: Deadline, phase: Pop3Phase): Promise<Pop3Reply> {
    const line = await this.read(deadline, phase);
    if (line.kind === "status") return line.reply;
    throw new Pop3Error("protocol-error", phase, "the server's reply is neither +OK nor -ERR.", {
      ...(this.lastCommand ? { command: this.lastCommand } : {}),
    });
  }

  /** Sends a command line; `mask` replaces it in the transcript and in errors. */
  async send(line: string, phase: Pop3Phase, mask?: string): Promise<void> {
    this.lastCommand = mask ?? line;
    try {
      await this.socket.writeLine(line, mask === undefined ? undefined : { mask });
    } catch (error) {
      throw toPop3Error(error, phase, this.lastCommand);
    }
  }
}
