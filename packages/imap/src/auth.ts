/**
 * AUTHENTICATE framing (RFC 9051 §6.2.2, RFC 4959 SASL-IR): the IMAP `SaslExchange`.
 *
 * Failure mapping (response codes per RFC 5530):
 * - `NO [AUTHENTICATIONFAILED]`, `[EXPIRED]`, `[CONTACTADMIN]` and `NO` without a code → authentication-failed
 *   (never falls back: a NO may count against the server's failure budget);
 * - `[AUTHORIZATIONFAILED]`, `[NOPERM]` → authorization-failed;
 * - `[UNAVAILABLE]`, `[LIMIT]`, `[SERVERBUG]`, `[INUSE]` → temporary-failure;
 * - `[PRIVACYREQUIRED]` → encryption-required; `[CANNOT]` → mechanism-rejected;
 * - `BAD` before the client sent any message of the mechanism → mechanism-rejected: the server did
 *   not accept the command or the mechanism, so the next candidate may be tried; `BAD` after the
 *   client sent one → protocol-error (the server found our message malformed);
 * - any failure after a message that carried the secret (PLAIN's initial response, LOGIN's
 *   password) → never mechanism-level: the attempt ends, nothing falls back to send it again;
 * - the tagged reply to a `*` cancellation → aborted; `BYE` during the exchange → its code's
 *   category, else aborted, and never mechanism-level (`[CANNOT]` included): the server is
 *   closing the connection, so no next mechanism or LOGIN may be sent after it.
 * Success data: IMAP servers send it (SCRAM `v=`) as a `+` challenge, answered with an empty line.
 * A server that puts it in the tagged OK instead is understood too, for mutual-auth mechanisms only:
 * when the OK text is a single strict base64 token decoding to printable text it is handed to the
 * mechanism, which verifies it.
 */
import type { FailureCode, ServerEvent } from "@saslkit/core";
import { decodeBase64, encodeBase64, type ExchangeContext, type MailExchange } from "@saslkit/transport";
import type { ImapCapabilities } from "./capabilities.js";
import type { ImapReply } from "./errors.js";
import type { TaggedResponse, UntaggedResponse } from "./parser.js";
import { replyOf, type CommandBudget, type ImapWire } from "./wire.js";

/** Longest AUTHENTICATE line that carries an initial response; longer IRs go after an empty `+`. */
export const MAX_IR_COMMAND_BYTES = 8192;

const NO_CODES: Readonly<Record<string, FailureCode>> = {
  AUTHENTICATIONFAILED: "authentication-failed",
  EXPIRED: "authentication-failed",
  CONTACTADMIN: "authentication-failed",
  AUTHORIZATIONFAILED: "authorization-failed",
  NOPERM: "authorization-failed",
  UNAVAILABLE: "temporary-failure",
  LIMIT: "temporary-failure",
  SERVERBUG: "temporary-failure",
  INUSE: "temporary-failure",
  PRIVACYREQUIRED: "encryption-required",
  CANNOT: "mechanism-rejected",
};

/** Maps a failed tagged (or BYE) reply to core's failure codes, per the module comment. */
export function failureCodeOf(status: string, code: string | undefined, answered: boolean, cancelled: boolean, secretSent = false): FailureCode {
  if (cancelled) return "aborted";
  const byCode = code ? NO_CODES[code.toUpperCase()] : undefined;
  const result =
    status === "BAD" ? (byCode ?? (answered ? "protocol-error" : "mechanism-rejected"))
    : status === "BYE" ? (byCode === undefined || byCode === "mechanism-rejected" ? "aborted" : byCode)
    : (byCode ?? "authentication-failed");
  return secretSent && result === "mechanism-rejected" ? "authentication-failed" : result;
}

export interface ImapExchangeOptions {
  readonly wire: ImapWire;
  readonly capabilities: ImapCapabilities;
  readonly context: ExchangeContext;
  /** Counts the untagged responses of each AUTHENTICATE against the command limits. */
  readonly budget: () => CommandBudget;
}

/** Whether an initial response fits on the AUTHENTICATE line: only with SASL-IR, within `MAX_IR_COMMAND_BYTES`. */
export function initialResponseFits(capabilities: ImapCapabilities): (mechanism: string, response: Uint8Array) => boolean {
  // "A999 AUTHENTICATE " + name + " " + base64 + CRLF
  return (mechanism, response) => capabilities.saslIr && 24 + mechanism.length + Math.ceil(response.length / 3) * 4 <= MAX_IR_COMMAND_BYTES;
}

/** One AUTHENTICATE command at a time, run by core's session driver. */
export class ImapSaslExchange implements MailExchange {
  #tag = "";
  #mechanism = "";
  #answered = false;
  #cancelled = false;
  #closed = false;
  /** This attempt sent a message that carried the secret. */
  #attemptSecret = false;
  #budget: CommandBudget | undefined;
  /** The last untagged response carrying capabilities during the last exchange, if any (at most one). */
  readonly untagged: UntaggedResponse[] = [];
  /** The tagged response (or BYE) that ended the last exchange. */
  final: TaggedResponse | UntaggedResponse | undefined;
  secretSent = false;

  constructor(private readonly options: ImapExchangeOptions) {}

  get lastCommand(): string | undefined {
    return this.options.wire.lastCommand;
  }

  get lastReply(): ImapReply | undefined {
    return this.final ? replyOf(this.final, this.options.wire.redact) : undefined;
  }

  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    const { wire } = this.options;
    this.#tag = wire.nextTag();
    this.#mechanism = mechanism;
    this.#answered = false;
    this.#cancelled = false;
    this.#attemptSecret = false;
    this.#budget = this.options.budget();
    this.final = undefined;
    this.untagged.length = 0; // an earlier, failed attempt's capabilities are not this one's
    let command = `AUTHENTICATE ${mechanism}`;
    let mask = `${this.#tag} ${command}`;
    // Core's session driver passes an initial response only when `initialResponseFits` said so
    // (SASL-IR advertised, line within MAX_IR_COMMAND_BYTES); otherwise it answers the empty "+".
    if (initialResponse !== null) {
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      this.#sent(ir);
      command += ` ${ir}`;
      mask += " ****";
    }
    await wire.send(this.#tag, command, mask);
    return this.#next();
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const line = encodeBase64(response);
    this.#sent(line);
    this.#answered = true;
    await this.options.wire.writeLine(line, "****");
    return this.#next();
  }

  /** Registers a payload with the redactor before it leaves, and whether it carried the secret. */
  #sent(payload: string): void {
    this.options.wire.socket.redactor.addPayload(payload);
    if (this.options.context.sendsSecret(this.#mechanism)) this.#attemptSecret = this.secretSent = true;
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    if (this.#closed) return { type: "failure", code: "aborted", reply: { status: "NO", text: "The exchange was cancelled." } };
    await this.options.wire.writeLine("*");
    return this.#next();
  }

  #failure(r: TaggedResponse | UntaggedResponse, status: string): ServerEvent {
    const reply = replyOf(r, this.options.wire.redact);
    return {
      type: "failure",
      code: failureCodeOf(status, r.code?.name, this.#answered, this.#cancelled, this.#attemptSecret),
      reply: { status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text },
    };
  }

  async #next(): Promise<ServerEvent> {
    const { wire, context } = this.options;
    // One deadline for the server's answer to this step: untagged responses before it do not extend it.
    const deadline = context.deadline();
    for (;;) {
      const r = await wire.read(deadline, "authenticate");
      if (r.kind === "continuation") {
        const data = decodeBase64(r.text.trim());
        if (data === undefined) return { type: "malformed", reason: "the continuation is not valid base64" };
        return { type: "challenge", data };
      }
      if (r.kind === "untagged") {
        if (r.type === "BYE") {
          this.#closed = true;
          this.final = r;
          return this.#failure(r, "BYE");
        }
        this.#budget?.spend(wire.lastSize);
        // Only the last one counts: a flood of them is not kept (as #collect does for other commands).
        if (r.type === "CAPABILITY" || r.code?.name === "CAPABILITY") this.untagged[0] = r;
        continue;
      }
      if (r.tag !== this.#tag) {
        wire.socket.destroy(); // out of step with the server: nothing more may be sent or read
        throw wire.error("authenticate", "protocol-error", `the server completed tag ${r.tag} while ${this.#tag} was pending.`, { reply: replyOf(r, wire.redact) });
      }
      this.final = r;
      if (r.status === "OK") {
        const reply = replyOf(r, wire.redact);
        return { type: "success", data: this.#successData(r), reply: { status: r.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text } };
      }
      return this.#failure(r, r.status);
    }
  }

  #successData(r: TaggedResponse): Uint8Array | null {
    if (r.code || !this.options.context.mutualAuth(this.#mechanism)) return null;
    const text = r.text.trim();
    if (!/^[A-Za-z0-9+/]{4,}={0,2}$/.test(text)) return null;
    const data = decodeBase64(text);
    // Human text can look like base64 ("Done"); real success data is printable (SCRAM's "v=...").
    if (!data || !data.length || !data.every((b) => b >= 0x20 && b < 0x7f)) return null;
    return data;
  }
}
