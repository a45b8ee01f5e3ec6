/**
 * The POP3 wire: reads classified lines, writes masked lines and turns transport failures into
 * `Pop3Error`s. Internal.
 */
import { Redactor, TransportError, type Deadline, type LineSocket } from "@saslkit/transport";
import { Pop3Error, type Pop3Phase, type Pop3Reply } from "./errors.js";
import { parseLine, type Pop3Line } from "./reply.js";


export function toPop3Error(error: unknown, phase: Pop3Phase, command?: string): Pop3Error {
  if (error instanceof Pop3Error) return error;
  const context = command === undefined ? {} : { command };
  if (error instanceof TransportError) return new Pop3Error(error.code, phase, error.message, { ...context, cause: error });
  return new Pop3Error("protocol-error", phase, "an unexpected error occurred.", { ...context, cause: error });
}

export class Pop3Wire {
  /** The last command line sent, credentials masked. */
  lastCommand: string | undefined;
  /** The connection's redactor (one seam, in the transport). */
  get redactor(): Redactor {
    return this.socket.redactor;
  }

  constructor(readonly socket: LineSocket) {}

  /** The reply with every secret this connection sent masked (a server may echo it). */
  scrub(r: Pop3Reply): Pop3Reply {
    return { ...r, text: this.redactor.scrub(r.text), raw: this.redactor.scrub(r.raw) };
  }

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
