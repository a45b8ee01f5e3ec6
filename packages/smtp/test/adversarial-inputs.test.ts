/**
 * Every pattern in @saslkit/smtp that sees server or message data, fed 100 KB adversarial inputs:
 * each call must finish in under 50 ms (linear work). The patterns are reached through the
 * functions that use them: reply lines (code, enhanced code), EHLO keywords, queue ids, the
 * raw-message header scan (field names, envelope, Message-ID), the DATA encoder, address checks.
 */
import { describe, expect, it } from "vitest";
import { DotEncoder } from "../src/data.js";
import { MessageIdSniffer, addressProblem, messageIdOf, needsSmtpUtf8, prepareMessage } from "../src/message.js";
import { ReplyParser, formatReply, parseCapabilities, parseReply, replyMessage, type SmtpReply } from "../src/reply.js";
import { parseQueueId } from "../src/transaction.js";

const N = 100_000;
const LIMIT_MS = 50;

/** Runs `fn` once to warm it up on a small input, then times it on the real one. */
function timed(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

const reply = (text: string, code = 250): SmtpReply => ({ code, lines: [`${code} ${text}`], text });

/** Hostile texts: long runs of what each pattern looks for, with the match broken at the end. */
const hostile: Record<string, string> = {
  spaces: " ".repeat(N) + "\r",
  "spaces and CRs": " \r".repeat(N / 2) + "x",
  digits: "2".repeat(N),
  "dotted digits": "2.".repeat(N / 2),
  "enhanced code prefixes": "2.0.0".repeat(N / 5),
  "queued as": "queued as ".repeat(N / 10),
  "id=": "id=".repeat(N / 3) + "!",
  "InternalId=": "InternalId=".repeat(N / 11),
  "field name, no colon": "X".repeat(N),
  "colon then white space": "a:" + " \t".repeat(N / 2) + "\r",
  "word characters": "a-".repeat(N / 2),
  quotes: '"'.repeat(N),
  "unterminated quote": '"' + "a ".repeat(N / 2),
  "lone CRs": "\r".repeat(N),
  "lone LFs": "\n".repeat(N),
  "LF dot": "\n.".repeat(N / 2),
  "AUTH=": "AUTH=".repeat(N / 5),
  "non-ASCII at the end": "a".repeat(N) + "é",
};

describe("patterns on 100 KB adversarial inputs finish in under 50 ms", () => {
  for (const [name, text] of Object.entries(hostile)) {
    it(`reply parsing: ${name}`, () => {
      const line = `250 ${text.replace(/[\r\n]/g, " ")}`;
      new ReplyParser().push("250 warm");
      expect(timed(() => new ReplyParser().push(line))).toBeLessThan(LIMIT_MS);
      const parsed = parseReply([line]);
      expect(timed(() => replyMessage(parsed))).toBeLessThan(LIMIT_MS);
      expect(timed(() => formatReply(parsed))).toBeLessThan(LIMIT_MS);
      // Not a reply line at all: refused, as quickly.
      const bad = text.replace(/[\r\n]/g, " ");
      expect(timed(() => expect(() => new ReplyParser().push(bad)).toThrow())).toBeLessThan(LIMIT_MS);
    });

    it(`enhanced status code: ${name}`, () => {
      const line = `550 5.${text.replace(/[\r\n]/g, "")}`;
      expect(timed(() => parseReply([line]))).toBeLessThan(LIMIT_MS);
    });

    it(`EHLO keywords: ${name}`, () => {
      const ehlo = parseReply([`250-mx`, `250-${text.replace(/[\r\n]/g, " ")}`, `250 AUTH ${text.replace(/[\r\n]/g, " ")}`]);
      parseCapabilities(parseReply(["250-mx", "250 AUTH PLAIN"]));
      expect(timed(() => parseCapabilities(ehlo))).toBeLessThan(LIMIT_MS);
    });

    it(`queue id: ${name}`, () => {
      parseQueueId(reply("ok queued as ABC"));
      expect(timed(() => parseQueueId(reply(text)))).toBeLessThan(LIMIT_MS);
    });

    it(`raw message header scan (envelope, Message-ID): ${name}`, () => {
      const message = `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${text}\r\n${text}: x\r\nMessage-ID:${text}\r\n\r\nbody\r\n`;
      prepareMessage("From: a@example.com\r\nTo: b@example.com\r\n\r\nx\r\n");
      expect(timed(() => prepareMessage(message))).toBeLessThan(LIMIT_MS);
      // With an envelope the Message-ID is found by a byte scan of the header instead.
      const env = { from: "a@example.com", to: ["b@example.com"] };
      expect(timed(() => prepareMessage(message, env))).toBeLessThan(LIMIT_MS);
      expect(timed(() => prepareMessage(`${"Message-IX: y\r\n".repeat(N / 15)}Message-ID:\r\n ${text}\r\n\r\nx`, env))).toBeLessThan(LIMIT_MS);
      expect(timed(() => messageIdOf(`Message-ID: ${text}`))).toBeLessThan(LIMIT_MS);
      const sniffer = new MessageIdSniffer();
      expect(
        timed(() => {
          for (let i = 0; i < text.length; i += 1000) sniffer.push(Buffer.from(text.slice(i, i + 1000), "latin1"));
          sniffer.finish();
        }),
      ).toBeLessThan(LIMIT_MS);
    });

    it(`DATA encoder: ${name}`, () => {
      new DotEncoder().encodeWithEnd(Buffer.from("a\r\n.b\nc\r"));
      expect(timed(() => new DotEncoder().encodeWithEnd(Buffer.from(text, "latin1")))).toBeLessThan(LIMIT_MS);
    });

    it(`address checks: ${name}`, () => {
      expect(timed(() => addressProblem(text))).toBeLessThan(LIMIT_MS);
      expect(timed(() => needsSmtpUtf8(text))).toBeLessThan(LIMIT_MS);
    });
  }

  it("a header with 100 KB of repeated To: fields is read in linear time", () => {
    const message = `From: a@example.com\r\n${"To: b@example.com\r\n".repeat(N / 20)}\r\nx\r\n`;
    prepareMessage("From: a@example.com\r\nTo: b@example.com\r\n\r\nx\r\n");
    // addressparser (nodemailer's) parses each field; the scan around it must not add a quadratic term.
    expect(timed(() => prepareMessage(message))).toBeLessThan(500);
  });
});
