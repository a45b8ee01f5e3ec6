/**
 * SMTP AUTH framing (RFC 4954) over nodemailer's `sendCommand`: the adapter half of core's
 * `SaslExchange`. nodemailer writes each line and hands back the reply as one string (lines
 * joined by "\n"); this file owns `AUTH <mech> [ir]`, `334 <base64>`, `*` and the reply codes.
 */
import type { SaslExchange, ServerEvent, ServerReplyInfo } from "@saslkit/core";
import { authFailureCode } from "@saslkit/smtp";
import { decodeBase64, encodeBase64 } from "@saslkit/transport";

/** One SMTP reply as read from nodemailer's response string. */
export interface Reply {
  readonly code: number;
  /** RFC 3463 enhanced status code of the first line, when present. */
  readonly enhanced: string | undefined;
  /** Text of every line, without code and separator. */
  readonly lines: readonly string[];
}

const LINE = /^(\d{3})(?:[ -](.*))?$/;
const ENHANCED = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)/;

/** Parses nodemailer's response string; code 0 when it is not an SMTP reply. */
export function parseReply(response: string): Reply {
  const raw = response.split(/\r?\n/).filter((l) => l !== "");
  let code = 0;
  const lines: string[] = [];
  for (const line of raw) {
    const m = LINE.exec(line);
    if (!m) return { code: 0, enhanced: undefined, lines: raw };
    code = Number(m[1]);
    lines.push(m[2] ?? "");
  }
  const enhanced = code >= 200 ? ENHANCED.exec(lines[0] ?? "")?.[1] : undefined;
  return { code, enhanced, lines };
}

/** The reply's text for messages: lines joined by a space, the enhanced code left out. */
export function replyText(reply: Reply): string {
  const text = reply.lines.join(" ");
  return reply.enhanced ? text.slice(reply.enhanced.length).trimStart() : text;
}

function replyInfo(reply: Reply): ServerReplyInfo {
  return { status: String(reply.code), ...(reply.enhanced ? { enhanced: reply.enhanced } : {}), text: replyText(reply) };
}

/**
 * One SMTP AUTH exchange over `send` (nodemailer's sendCommand). `onPayload` gets every base64
 * payload before it is sent, and `scrub` masks every reply before it goes further (into core's
 * errors, the negotiation record, logs): a server may repeat what it received.
 */
export class NodemailerSaslExchange implements SaslExchange {
  #cancelled = false;
  /** True once an AUTH command went out: from then on the server's reply belongs in errors. */
  authSent = false;
  lastReply: Reply | undefined;

  constructor(
    private readonly send: (line: string) => Promise<string>,
    private readonly onPayload: (base64: string) => void,
    private readonly scrub: (text: string) => string = (text) => text,
  ) {}

  /** Sends `AUTH <mechanism> [ir]`. The session driver decides (`initialResponseFits`) whether the initial response goes here. */
  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    this.#cancelled = false;
    let line = `AUTH ${mechanism}`;
    if (initialResponse !== null) {
      // A zero-length initial response is "=" (RFC 4954 §4).
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      if (ir !== "=") this.onPayload(ir);
      line = `${line} ${ir}`;
    }
    this.authSent = true;
    return this.#event(await this.#send(line));
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const text = encodeBase64(response);
    if (text) this.onPayload(text);
    return this.#event(await this.#send(text));
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    const reply = await this.#send("*");
    // RFC 4954 §4: the server answers a cancel with 501; any answer ends the exchange.
    return { type: "failure", code: "aborted", reply: replyInfo(reply) };
  }

  async #send(line: string): Promise<Reply> {
    const reply = parseReply(this.scrub(await this.send(line)));
    this.lastReply = reply;
    return reply;
  }

  #event(reply: Reply): ServerEvent {
    if (reply.code === 334) {
      if (reply.lines.length > 1) return { type: "malformed", reason: "a 334 challenge spanned several lines" };
      // "334", "334 " and "334 <base64>": an empty text is an empty challenge.
      const data = decodeBase64((reply.lines[0] ?? "").trim());
      return data === undefined ? { type: "malformed", reason: "the challenge is not valid base64" } : { type: "challenge", data };
    }
    if (reply.code === 235) return { type: "success", data: null, reply: replyInfo(reply) };
    return { type: "failure", code: authFailureCode(reply.code, this.#cancelled), reply: replyInfo(reply) };
  }
}
