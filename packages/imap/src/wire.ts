/**
 * The IMAP wire: reads whole responses (literals included) from a `LineSocket`, writes masked
 * lines, numbers tags, and turns transport failures into `ImapError`s. Internal.
 */
import { Redactor, TransportError, type Deadline, type LineSocket } from "@saslkit/transport";
import { ImapError, type ImapPhase, type ImapReply } from "./errors.js";
import { ImapParseError, literalLength, parseResponse, type ImapResponse, type TaggedResponse, type UntaggedResponse } from "./parser.js";

export function replyOf(r: TaggedResponse | UntaggedResponse, redactor?: Redactor): ImapReply {
  const scrub = (t: string) => (redactor ? redactor.scrub(t) : t);
  const status = r.kind === "tagged" ? r.status : r.type;
  const text = r.kind === "tagged" ? r.text : (r.text ?? "");
  return { status, ...(r.code ? { code: r.code.name } : {}), text: scrub(text), raw: scrub(r.raw) };
}

/** Turns a transport or parse failure into an `ImapError` (an `ImapError` passes through). */
export function toImapError(error: unknown, phase: ImapPhase, command?: string, redactor?: Redactor): ImapError {
  if (error instanceof ImapError) return error;
  const context = command === undefined ? {} : { command };
  if (error instanceof TransportError) return new ImapError(error.code, phase, error.message, { ...context, cause: error });
  if (error instanceof ImapParseError) {
    return new ImapError("protocol-error", phase, redactor ? redactor.scrub(error.message) : error.message, { ...context, cause: error });
  }
  return new ImapError("protocol-error", phase, "an unexpected error occurred.", { ...context, cause: error });
}

export class ImapWire {
  #tag = 0;
  /** The last command line sent, credentials masked. */
  lastCommand: string | undefined;
  /** The connection's redactor (one seam, in the transport). */
  get redactor(): Redactor {
    return this.socket.redactor;
  }

  constructor(
    readonly socket: LineSocket,
    readonly maxLiteralBytes: number,
  ) {}

  nextTag(): string {
    return `A${++this.#tag}`;
  }

  /** Reads one complete response; literals (`{n}` at the end of an untagged line) are read as bytes. */
  async read(deadline: Deadline, phase: ImapPhase): Promise<ImapResponse> {
    const parts: (string | Uint8Array)[] = [];
    try {
      let line = await this.socket.readLine(deadline);
      parts.push(line);
      if (line.startsWith("* ")) {
        for (let n = literalLength(line); n !== undefined; n = literalLength(line)) {
          if (n > this.maxLiteralBytes) {
            throw new ImapError("line-too-long", phase, `the server announced a literal of ${n} bytes, over the limit of ${this.maxLiteralBytes}.`, this.#context());
          }
          parts.push(await this.socket.readBytes(n, deadline));
          line = await this.socket.readLine(deadline);
          parts.push(line);
        }
      }
      return parseResponse(parts);
    } catch (error) {
      throw this.wrap(error, phase);
    }
  }

  async writeLine(line: string, phase: ImapPhase, mask?: string): Promise<void> {
    try {
      await this.socket.writeLine(line, mask === undefined ? undefined : { mask });
    } catch (error) {
      throw this.wrap(error, phase);
    }
  }

  async write(data: string | Uint8Array, phase: ImapPhase, mask?: string): Promise<void> {
    try {
      await this.socket.write(data, mask === undefined ? undefined : { mask });
    } catch (error) {
      throw this.wrap(error, phase);
    }
  }

  /** Sends `tag command` and records it (masked) as the last command. */
  async send(tag: string, command: string, phase: ImapPhase, mask?: string): Promise<void> {
    this.lastCommand = mask ?? `${tag} ${command}`;
    await this.writeLine(`${tag} ${command}`, phase, mask);
  }

  wrap(error: unknown, phase: ImapPhase): ImapError {
    return toImapError(error, phase, this.lastCommand, this.redactor);
  }

  #context(): { command?: string } {
    return this.lastCommand === undefined ? {} : { command: this.lastCommand };
  }
}
