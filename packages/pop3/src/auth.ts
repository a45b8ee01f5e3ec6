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
 * the `-ERR` to a `*` cancellation → aborted; any `-ERR` after a message that carried the secret is
 * never mechanism-level (nothing falls back to send it again). POP3 has no success data in `+OK`: servers send it
 * (SCRAM `v=`) as a `+` challenge, answered with an empty line.
 */
import type { FailureCode, ServerEvent } from "@saslkit/core";
import { decodeBase64, encodeBase64, type ExchangeContext, type MailExchange } from "@saslkit/transport";
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
export function failureCodeOf(code: string | undefined, answered: boolean, cancelled: boolean, secretSent = false): FailureCode {
  if (cancelled) return "aborted";
  const byCode = code ? CODES[code.toUpperCase()] : undefined;
  return byCode ?? (answered || secretSent ? "authentication-failed" : "mechanism-rejected");
}

/** RFC 2449 §4 / RFC 5034 §4: the initial response goes on the AUTH line only when the line fits 255 octets. */
export function initialResponseFits(mechanism: string, response: Uint8Array): boolean {
  const ir = response.length ? Math.ceil(response.length / 3) * 4 : 1;
  return `AUTH ${mechanism} `.length + ir + 2 <= MAX_COMMAND_LINE;
}

/** One AUTH command at a time, run by core's session driver. */
export class Pop3SaslExchange implements MailExchange {
  #answered = false;
  #cancelled = false;
  #mechanism = "";
  #attemptSecret = false;
  /** The `+OK`/`-ERR` that ended the last exchange (redacted). */
  final: Pop3Reply | undefined;
  secretSent = false;

  constructor(
    private readonly wire: Pop3Wire,
    private readonly context: ExchangeContext,
  ) {}

  get lastCommand(): string | undefined {
    return this.wire.lastCommand;
  }

  get lastReply(): Pop3Reply | undefined {
    return this.final;
  }

  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    this.#answered = false;
    this.#cancelled = false;
    this.#attemptSecret = false;
    this.#mechanism = mechanism;
    this.final = undefined;
    let line = `AUTH ${mechanism}`;
    let mask = line;
    // Core's session driver passes an initial response only when `initialResponseFits` said so;
    // otherwise it answers the server's empty "+" with it.
    if (initialResponse !== null) {
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      this.#sent(ir);
      line += ` ${ir}`;
      mask += " ****";
    }
    await this.wire.send(line, mask);
    return this.#next();
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const line = encodeBase64(response);
    this.#sent(line);
    this.#answered = true;
    await this.wire.send(line, "****");
    return this.#next();
  }

  #sent(payload: string): void {
    this.wire.socket.redactor.addPayload(payload);
    if (this.context.sendsSecret(this.#mechanism)) this.#attemptSecret = this.secretSent = true;
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    await this.wire.send("*");
    return this.#next();
  }

  async #next(): Promise<ServerEvent> {
    const line = await this.wire.read(this.context.deadline());
    if (line.kind === "continuation") {
      const data = decodeBase64(line.text.trim());
      return data === undefined ? { type: "malformed", reason: "the continuation is not valid base64" } : { type: "challenge", data };
    }
    if (line.kind === "invalid") {
      this.wire.socket.destroy(); // out of step with the server: nothing more may be sent or read
      throw new Pop3Error("authenticate", "protocol-error", "the server's reply to AUTH is neither a continuation, +OK nor -ERR.", {
        ...(this.wire.lastCommand ? { command: this.wire.lastCommand } : {}),
        redact: this.wire.redact,
      });
    }
    const reply = this.wire.scrub(line.reply);
    this.final = reply;
    const info = { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text };
    if (reply.status === "+OK") return { type: "success", data: null, reply: info };
    return { type: "failure", code: failureCodeOf(reply.code, this.#answered, this.#cancelled, this.#attemptSecret), reply: info };
  }
}
