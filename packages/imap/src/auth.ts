/**
 * AUTHENTICATE framing (RFC 9051 §6.2.2, RFC 4959 SASL-IR): the IMAP `SaslExchange`.
 *
 * Failure mapping (response codes per RFC 5530):
 * - `NO [AUTHENTICATIONFAILED]`, `[EXPIRED]`, `[CONTACTADMIN]` and `NO` without a code → authentication-failed
 *   (never falls back: a NO may count against the server's failure budget);
 * - `[AUTHORIZATIONFAILED]`, `[NOPERM]` → authorization-failed;
 * - `[UNAVAILABLE]`, `[LIMIT]`, `[SERVERBUG]`, `[INUSE]` → temporary-failure;
 * - `[PRIVACYREQUIRED]` → encryption-required; `[CANNOT]` → mechanism-rejected;
 * - `BAD` before the client answered any challenge → mechanism-rejected: the server did not accept
 *   the command or the mechanism, so the next candidate may be tried; `BAD` after the client
 *   answered → protocol-error (the server found our response malformed);
 * - the tagged reply to a `*` cancellation → aborted; `BYE` during the exchange → its code's
 *   category, else aborted.
 * Success data: IMAP servers send it (SCRAM `v=`) as a `+` challenge, answered with an empty line.
 * A server that puts it in the tagged OK instead is understood too, for mutual-auth mechanisms only:
 * when the OK text is a single strict base64 token decoding to printable text it is handed to the
 * mechanism, which verifies it.
 */
import type { FailureCode, SaslExchange, ServerEvent } from "@saslkit/core";
import { decodeBase64, encodeBase64, type Deadline } from "@saslkit/transport";
import type { ImapCapabilities } from "./capabilities.js";
import { ImapError } from "./errors.js";
import type { TaggedResponse, UntaggedResponse } from "./parser.js";
import { replyOf, type ImapWire } from "./wire.js";

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
export function failureCodeOf(status: string, code: string | undefined, answered: boolean, cancelled: boolean): FailureCode {
  if (cancelled) return "aborted";
  const byCode = code ? NO_CODES[code.toUpperCase()] : undefined;
  if (status === "BAD") return byCode ?? (answered ? "protocol-error" : "mechanism-rejected");
  if (status === "BYE") return byCode ?? "aborted";
  return byCode ?? "authentication-failed";
}

export interface ImapExchangeOptions {
  readonly wire: ImapWire;
  readonly capabilities: ImapCapabilities;
  readonly deadline: Deadline;
  /** Whether a mechanism proves the server (SCRAM): only then may tagged-OK text be success data. */
  readonly mutualAuth: (mechanism: string) => boolean;
}

/** One AUTHENTICATE command at a time, run by core's session driver. */
export class ImapSaslExchange implements SaslExchange {
  #tag = "";
  #mechanism = "";
  #answered = false;
  #cancelled = false;
  #closed = false;
  /** Untagged responses seen during the exchanges (CAPABILITY among them). */
  readonly untagged: UntaggedResponse[] = [];
  /** The tagged response that ended the last exchange. */
  final: TaggedResponse | UntaggedResponse | undefined;

  constructor(private readonly options: ImapExchangeOptions) {}

  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    const { wire, capabilities } = this.options;
    this.#tag = wire.nextTag();
    this.#mechanism = mechanism;
    this.#answered = false;
    this.#cancelled = false;
    this.final = undefined;
    let command = `AUTHENTICATE ${mechanism}`;
    let pending = initialResponse;
    let mask = `${this.#tag} ${command}`;
    if (initialResponse !== null && capabilities.saslIr) {
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      if (this.#tag.length + command.length + ir.length + 4 <= MAX_IR_COMMAND_BYTES) {
        wire.redactor.addPayload(ir);
        command += ` ${ir}`;
        mask += " ****";
        pending = null;
      }
    }
    await wire.send(this.#tag, command, "authenticate", mask);
    const event = await this.#next();
    if (pending === null || this.#closed) return event;
    // No SASL-IR: the server asks for the client's first message with an empty challenge.
    if (event.type !== "challenge") return event;
    if (event.data.length > 0) return { type: "malformed", reason: "the server sent a non-empty challenge where the client's initial response was due" };
    return this.respond(pending);
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const line = encodeBase64(response);
    this.options.wire.redactor.addPayload(line);
    this.#answered = true;
    await this.options.wire.writeLine(line, "authenticate", "****");
    return this.#next();
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    if (this.#closed) return { type: "failure", code: "aborted", reply: { status: "NO", text: "The exchange was cancelled." } };
    await this.options.wire.writeLine("*", "authenticate");
    return this.#next();
  }

  async #next(): Promise<ServerEvent> {
    const { wire, deadline } = this.options;
    for (;;) {
      const r = await wire.read(deadline, "authenticate");
      if (r.kind === "continuation") {
        const data = decodeBase64(r.text.trim());
        if (data === undefined) return { type: "malformed", reason: "the continuation is not valid base64" };
        return { type: "challenge", data };
      }
      if (r.kind === "untagged") {
        this.untagged.push(r);
        if (r.type === "BYE") {
          this.#closed = true;
          this.final = r;
          const reply = replyOf(r, wire.redactor);
          return { type: "failure", code: failureCodeOf("BYE", r.code?.name, this.#answered, this.#cancelled), reply: { status: "BYE", ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text } };
        }
        continue;
      }
      if (r.tag !== this.#tag) {
        throw new ImapError("protocol-error", "authenticate", `the server completed tag ${r.tag} while ${this.#tag} was pending.`, {
          ...(wire.lastCommand ? { command: wire.lastCommand } : {}),
          reply: replyOf(r, wire.redactor),
        });
      }
      this.final = r;
      const reply = replyOf(r, wire.redactor);
      const info = { status: r.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text };
      if (r.status === "OK") {
        return { type: "success", data: this.#successData(r), reply: info };
      }
      return { type: "failure", code: failureCodeOf(r.status, r.code?.name, this.#answered, this.#cancelled), reply: info };
    }
  }

  #successData(r: TaggedResponse): Uint8Array | null {
    if (r.code || !this.options.mutualAuth(this.#mechanism)) return null;
    const text = r.text.trim();
    if (!/^[A-Za-z0-9+/]{4,}={0,2}$/.test(text)) return null;
    const data = decodeBase64(text);
    // Human text can look like base64 ("Done"); real success data is printable (SCRAM's "v=...").
    if (!data || !data.length || !data.every((b) => b >= 0x20 && b < 0x7f)) return null;
    return data;
  }
}
