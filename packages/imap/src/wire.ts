/**
 * The IMAP wire: reads whole responses (literals included) from a `LineSocket` within byte and
 * count limits, writes masked lines and numbers tags. Internal. Transport failures propagate as
 * `TransportError`s; the connection turns them into `ImapError`s with its phase and command.
 */
import type { Deadline, LineSocket } from "@saslkit/transport";
import { ImapError, type ImapPhase, type ImapReply } from "./errors.js";
import { ImapParseError, literalLength, parseResponse, type ImapResponse, type ImapValue, type TaggedResponse, type UntaggedResponse } from "./parser.js";

/** Memory limits, counted in bytes and items as they arrive (Postfix counts octets, not lines). */
export interface ImapLimits {
  /** One response: its lines and literals together. Default 32 MiB. */
  readonly responseBytes?: number;
  /** Literals in one response. Default 1000. */
  readonly literals?: number;
  /** The untagged responses of one command together, in bytes. Default 64 MiB. */
  readonly commandBytes?: number;
  /** Untagged responses before one command's tagged completion. Default 100000. */
  readonly untagged?: number;
}

export const DEFAULT_LIMITS: Required<ImapLimits> = { responseBytes: 32 * 1024 * 1024, literals: 1000, commandBytes: 64 * 1024 * 1024, untagged: 100_000 };

/** The reply fields of a response, redacted. */
export function replyOf(r: TaggedResponse | UntaggedResponse, redact: (text: string) => string): ImapReply {
  const status = r.kind === "tagged" ? r.status : r.type;
  const text = r.kind === "tagged" ? r.text : (r.text ?? "");
  return { status, ...(r.code ? { code: r.code.name } : {}), text: redact(text), raw: redact(r.raw) };
}

/** Spending of one command's budget: count and bytes of its untagged responses. */
export class CommandBudget {
  #bytes = 0;
  #count = 0;
  constructor(
    private readonly wire: ImapWire,
    private readonly phase: ImapPhase,
  ) {}

  spend(bytes: number): void {
    this.#bytes += bytes;
    this.#count++;
    const { commandBytes, untagged } = this.wire.limits;
    if (this.#count > untagged || this.#bytes > commandBytes) {
      this.wire.socket.destroy();
      throw this.wire.error(
        this.phase,
        "too-many-responses",
        this.#count > untagged ? `the server sent more than ${untagged} untagged responses to one command.` : `the server's untagged responses to one command exceed ${commandBytes} bytes.`,
      );
    }
  }
}

export class ImapWire {
  #tag = 0;
  /** The last command line sent, credentials masked. */
  lastCommand: string | undefined;
  /** Bytes of the last response read (lines and literals). */
  lastSize = 0;
  readonly limits: Required<ImapLimits>;

  /** A deadline for a write the socket cannot take at once (the reply deadline). */
  readonly #writeDeadline: () => Deadline;

  constructor(
    readonly socket: LineSocket,
    limits: ImapLimits = {},
    writeDeadline: () => Deadline,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.#writeDeadline = writeDeadline;
  }

  nextTag(): string {
    return `A${++this.#tag}`;
  }

  redact = (text: string): string => this.socket.redact(text);

  /** An `ImapError` with the last command and the connection's redactor. */
  error(phase: ImapPhase, code: ConstructorParameters<typeof ImapError>[1], message: string, extra: { reply?: ImapReply; cause?: unknown } = {}): ImapError {
    return new ImapError(phase, code, message, { ...(this.lastCommand ? { command: this.lastCommand } : {}), ...extra, redact: this.redact });
  }

  /**
   * Reads one complete response; literals (`{n}` at the end of an untagged line) are read as
   * bytes. The response's bytes and literal count are checked as they arrive, before a literal
   * is read, so a hostile announcement costs nothing.
   */
  async read(deadline: Deadline, phase: ImapPhase): Promise<ImapResponse> {
    const { responseBytes, literals } = this.limits;
    let line = await this.socket.readLine(deadline);
    const parts: (string | Uint8Array)[] = [line];
    let size = line.length + 2;
    if (line.startsWith("* ")) {
      for (let n = literalLength(line), count = 0; n !== undefined; n = literalLength(line)) {
        if (++count > literals) throw this.#tooLarge(phase, `the server sent more than ${literals} literals in one response.`);
        size += n;
        if (size > responseBytes) throw this.#tooLarge(phase, `the server announced a literal that takes one response over ${responseBytes} bytes.`);
        try {
          parts.push(await this.socket.readBytes(n, deadline));
          line = await this.socket.readLine(deadline);
        } catch (error) {
          // Failed inside a response (a deadline in a literal): its rest, message data anyone can
          // write, would be read as responses, a forged completion among them. Close instead.
          this.socket.destroy();
          throw error;
        }
        size += line.length + 2;
        if (size > responseBytes) throw this.#tooLarge(phase, `one response from the server exceeds ${responseBytes} bytes.`);
        parts.push(line);
      }
    }
    this.lastSize = size;
    try {
      return parseResponse(parts);
    } catch (error) {
      // Not kept as the cause: its message quotes the server's line unredacted. Redacted before
      // it is clipped: a secret cut in two by the clip would no longer be found.
      if (error instanceof ImapParseError) throw this.error(phase, "protocol-error", error.describe(this.redact));
      throw error;
    }
  }

  /**
   * The tokens of an untagged response the client keeps. The parser tokenizes on first use, so
   * malformed data (an unbalanced list, a bad literal) surfaces here: a protocol error, and the
   * connection is closed, as for any other response the grammar does not allow.
   */
  values(r: UntaggedResponse, phase: ImapPhase): readonly ImapValue[] {
    try {
      return r.values;
    } catch (error) {
      if (!(error instanceof ImapParseError)) throw error;
      this.socket.destroy();
      throw this.error(phase, "protocol-error", error.describe(this.redact));
    }
  }

  #tooLarge(phase: ImapPhase, message: string): ImapError {
    this.socket.destroy();
    return this.error(phase, "response-too-large", message);
  }

  /** Writes `line` and CRLF; a server that stops reading fails it at the reply deadline (`timeout`), never later. */
  async writeLine(line: string, mask?: string): Promise<void> {
    await this.socket.writeLine(line, mask === undefined ? { deadline: this.#writeDeadline() } : { mask, deadline: this.#writeDeadline() });
  }

  /** Writes `data` (a literal), with `writeLine`'s deadline. */
  async write(data: string | Uint8Array, mask?: string): Promise<void> {
    await this.socket.write(data, mask === undefined ? { deadline: this.#writeDeadline() } : { mask, deadline: this.#writeDeadline() });
  }

  /** Sends `tag command` and records it (masked) as the last command. */
  async send(tag: string, command: string, mask?: string): Promise<void> {
    this.lastCommand = mask ?? `${tag} ${command}`;
    await this.writeLine(`${tag} ${command}`, mask);
  }
}
