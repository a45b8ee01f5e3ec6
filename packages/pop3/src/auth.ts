/**
 * AUTH framing (RFC 5034): the POP3 `SaslExchange`.
 *
 * The initial response goes on the AUTH line only when the whole line fits POP3's 255-octet
 * command limit (RFC 2449 §4); otherwise the client sends `AUTH MECH`, waits for the empty `+`
 * and sends it as a response line. `=` stands for an empty initial response.
 *
 * Failure mapping (RFC 2449 §8, RFC 3206): `-ERR [AUTH]` → authentication-failed;
 * `[SYS/TEMP]`, `[IN-USE]`, `[LOGIN-DELAY]` → temporary-failure; `[SYS/PERM]` → authentication-failed;
 * `-ERR` without a code before the client answered anything → mechanism-rejected (the server did
 * not accept the mechanism: the next candidate may be tried), after it → authentication-failed;
 * the `-ERR` to a `*` cancellation → aborted. POP3 has no success data in `+OK`: servers send it
 * (SCRAM `v=`) as a `+` challenge, answered with an empty line.
 */
import type { FailureCode, SaslExchange, ServerEvent } from "@saslkit/core";
import { decodeBase64, encodeBase64, type Deadline } from "@saslkit/transport";
import { Pop3Error, type Pop3Reply } from "./errors.js";
import type { Pop3Wire } from "./wire.js";

/** RFC 2449 §4: a command line is at most 255 octets including CRLF. */
export const MAX_COMMAND_LINE = 255;

const CODES: Readonly<Record<string, FailureCode>> = {
  AUTH: "authentication-failed",
  "SYS/TEMP": "temporary-failure",
  "SYS/PERM": "authentication-failed",
  "IN-USE": "temporary-failure",
  "LOGIN-DELAY": "temporary-failure",
};

/** Maps an `-ERR` reply to core's failure codes, per the module comment. */
export function failureCodeOf(code: string | undefined, answered: boolean, cancelled: boolean): FailureCode {
  if (cancelled) return "aborted";
  const byCode = code ? CODES[code.toUpperCase()] : undefined;
  return byCode ?? (answered ? "authentication-failed" : "mechanism-rejected");
}

/** One AUTH command at a time, run by core's session driver. */
export class Pop3SaslExchange implements SaslExchange {
  #answered = false;
  #cancelled = false;
  /** The `+OK`/`-ERR` that ended the last exchange. */
  final: Pop3Reply | undefined;

  constructor(
    private readonly wire: Pop3Wire,
    private readonly deadline: Deadline,
  ) {}

  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    this.#answered = false;
    this.#cancelled = false;
    this.final = undefined;
    let line = `AUTH ${mechanism}`;
    let mask = line;
    let pending = initialResponse;
    if (initialResponse !== null) {
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      if (line.length + 1 + ir.length + 2 <= MAX_COMMAND_LINE) {
        this.wire.redactor.addPayload(ir);
        line += ` ${ir}`;
        mask += " ****";
        pending = null;
      }
    }
    await this.wire.send(line, "authenticate", mask);
    const event = await this.#next();
    if (pending === null || event.type !== "challenge") return event;
    // The initial response did not fit: the server asks for it with an empty challenge.
    if (event.data.length > 0) return { type: "malformed", reason: "the server sent a non-empty challenge where the client's initial response was due" };
    return this.respond(pending);
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const line = encodeBase64(response);
    this.wire.redactor.addPayload(line);
    this.#answered = true;
    await this.wire.send(line, "authenticate", "****");
    return this.#next();
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    await this.wire.send("*", "authenticate");
    return this.#next();
  }

  async #next(): Promise<ServerEvent> {
    const line = await this.wire.read(this.deadline, "authenticate");
    if (line.kind === "continuation") {
      const data = decodeBase64(line.text.trim());
      return data === undefined ? { type: "malformed", reason: "the continuation is not valid base64" } : { type: "challenge", data };
    }
    if (line.kind === "invalid") {
      throw new Pop3Error("protocol-error", "authenticate", "the server's reply to AUTH is neither a continuation, +OK nor -ERR.", {
        ...(this.wire.lastCommand ? { command: this.wire.lastCommand } : {}),
      });
    }
    const reply = this.wire.scrub(line.reply);
    this.final = reply;
    const info = { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text };
    if (reply.status === "+OK") return { type: "success", data: null, reply: info };
    return { type: "failure", code: failureCodeOf(reply.code, this.#answered, this.#cancelled), reply: info };
  }
}
