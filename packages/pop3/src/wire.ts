/**
 * The POP3 wire: reads classified lines and writes masked lines. Internal. Transport failures
 * propagate as `TransportError`s; the connection turns them into `Pop3Error`s.
 */
import type { Deadline, LineSocket } from "@saslkit/transport";
import { Pop3Error, type Pop3Phase, type Pop3Reply } from "./errors.js";
import { parseLine, type Pop3Line } from "./reply.js";

export class Pop3Wire {
  /** The last command line sent, credentials masked. */
  lastCommand: string | undefined;

  constructor(
    readonly socket: LineSocket,
    /** A deadline for a write the socket cannot take at once (the reply deadline). */
    private readonly writeDeadline: () => Deadline,
  ) {}

  redact = (text: string): string => this.socket.redact(text);

  /** The reply with every secret this connection sent masked (a server may echo it). */
  scrub(r: Pop3Reply): Pop3Reply {
    return { ...r, text: this.redact(r.text), raw: this.redact(r.raw) };
  }

  /**
   * The next line, classified. A failed read (deadline, close) closes the connection: POP3 has no
   * tags, so the late rest of an answer would be read as the next command's reply.
   */
  read(deadline: Deadline): Promise<Pop3Line> {
    return this.socket.readLine(deadline).then(parseLine, this.#lost);
  }

  /** Closes the connection after a read failed part-way through an answer (see `read`), and rethrows. */
  readonly #lost = (error: unknown): never => {
    this.socket.destroy();
    throw error;
  };

  /** Reads a status line (redacted); anything else is a protocol error. */
  async status(deadline: Deadline, phase: Pop3Phase): Promise<Pop3Reply> {
    const line = await this.read(deadline);
    if (line.kind === "status") return this.scrub(line.reply);
    this.socket.destroy(); // out of step with the server, as after a failed read
    throw new Pop3Error(phase, "protocol-error", "the server's reply is neither +OK nor -ERR.", {
      ...(this.lastCommand ? { command: this.lastCommand } : {}),
      redact: this.redact,
    });
  }

  /** Sends a command line; `mask` replaces it in the transcript and in errors. */
  async send(line: string, mask?: string): Promise<void> {
    this.lastCommand = mask ?? line;
    // A server that stops reading fails the write at the reply deadline (`timeout`), never later.
    await this.socket.writeLine(line, mask === undefined ? { deadline: this.writeDeadline() } : { mask, deadline: this.writeDeadline() });
  }
}
