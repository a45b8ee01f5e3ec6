import { describe, expect, it } from "vitest";
import { MalformedReplyError, ReplyParser, formatReply, parseCapabilities, parseReply } from "../src/reply.js";

describe("reply parser (RFC 5321 §4.2)", () => {
  it.each([
    [["250 OK"], { code: 250, text: "OK" }],
    [["334"], { code: 334, text: "" }],
    [["334 "], { code: 334, text: "" }],
    [["235 2.7.0 Authentication successful"], { code: 235, enhanced: "2.7.0", text: "2.7.0 Authentication successful" }],
    [["250-mx.example.com", "250-PIPELINING", "250 SIZE 1000"], { code: 250, text: "mx.example.com\nPIPELINING\nSIZE 1000" }],
    [["535-5.7.8 first", "535 5.7.8 second"], { code: 535, enhanced: "5.7.8", text: "5.7.8 first\n5.7.8 second" }],
    [["550 5.1.1"], { code: 550, enhanced: "5.1.1", text: "5.1.1" }],
    // Enhanced code whose class differs from the reply's is not taken as one.
    [["250 5.1.1 odd"], { code: 250, text: "5.1.1 odd" }],
    // Not an enhanced code: no space after it.
    [["250 2.0.0queued"], { code: 250, text: "2.0.0queued" }],
  ])("parses %j", (lines, expected) => {
    const reply = parseReply(lines);
    expect(reply).toMatchObject(expected);
    expect(reply.lines).toEqual(lines);
    if (!("enhanced" in expected)) expect(reply.enhanced).toBeUndefined();
  });

  it.each([
    [["hello"], /not an SMTP reply/],
    [["25 OK"], /not an SMTP reply/],
    [["2500 OK"], /not an SMTP reply/],
    [["250x OK"], /not an SMTP reply/],
    [["650 OK"], /not an SMTP reply/],
    [["250-a", "251 b"], /changed the reply code/],
    [["250-a"], /no last line/],
    [["250 a", "250 b"], /follow the last line/],
  ])("rejects %j", (lines, message) => {
    expect(() => parseReply(lines)).toThrow(MalformedReplyError);
    expect(() => parseReply(lines)).toThrow(message);
  });

  it("is incremental", () => {
    const p = new ReplyParser();
    expect(p.push("250-a")).toBeUndefined();
    expect(p.push("250 b")).toMatchObject({ code: 250, text: "a\nb" });
    expect(p.push("221 bye")).toMatchObject({ code: 221 });
  });

  it("formats replies for messages", () => {
    expect(formatReply(parseReply(["535-5.7.8 Bad", "535 5.7.8 credentials"]))).toBe("535 5.7.8 Bad 5.7.8 credentials");
    expect(formatReply(parseReply(["421 closing"]))).toBe("421 closing");
  });
});

describe("EHLO capabilities", () => {
  const caps = (...lines: string[]) => parseCapabilities(parseReply(lines));

  it("reads the usual keywords", () => {
    const c = caps("250-mx.example.com Hello", "250-PIPELINING", "250-SIZE 35882577", "250-8BITMIME", "250-SMTPUTF8", "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-CHUNKING", "250 DSN");
    expect(c).toMatchObject({ greeting: "mx.example.com Hello", pipelining: true, size: 35882577, eightBitMime: true, smtpUtf8: true, enhancedStatusCodes: true, startTls: true, chunking: true, dsn: true, helo: false });
    expect(c.auth).toEqual([]);
  });

  it("SIZE without a number means no stated limit", () => {
    expect(caps("250-x", "250 SIZE").size).toBe(0);
    expect(caps("250 x").size).toBeUndefined();
  });

  it("tokenises exactly: PLAIN-CLIENTTOKEN is not PLAIN (Gmail)", () => {
    const c = caps("250-smtp.gmail.com at your service", "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH", "250 ENHANCEDSTATUSCODES");
    expect(c.auth).toEqual(["LOGIN", "PLAIN", "XOAUTH2", "PLAIN-CLIENTTOKEN", "OAUTHBEARER", "XOAUTH"]);
    expect(c.has("auth")).toBe(true);
    expect(c.has("ENHANCEDSTATUS")).toBe(false);
  });

  it("merges AUTH and legacy AUTH= lines, case-insensitively, without duplicates", () => {
    const c = caps("250-x", "250-AUTH=LOGIN plain", "250-AUTH PLAIN CRAM-MD5", "250 auth=login XOAUTH2");
    expect(c.auth).toEqual(["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2"]);
  });

  it("reads Exchange's X-EXPS line as AUTH mechanisms too, in union with AUTH and AUTH= (quirks.md 2)", () => {
    const c = caps("250-exchange.example Hello", "250-AUTH NTLM", "250-X-EXPS GSSAPI NTLM", "250-AUTH=LOGIN", "250 8BITMIME");
    expect(c.auth).toEqual(["NTLM", "GSSAPI", "LOGIN"]);
    expect(c.has("X-EXPS")).toBe(true);
    // An Exchange that advertises X-EXPS alone still counts as offering AUTH.
    const only = caps("250-exchange.example Hello", "250 x-exps GSSAPI NTLM");
    expect(only.auth).toEqual(["GSSAPI", "NTLM"]);
    expect(only.has("AUTH")).toBe(true);
  });

  it("drops tokens that cannot be SASL names", () => {
    expect(caps("250-x", "250 AUTH PLAIN bad!name THIS-NAME-IS-FAR-TOO-LONG-FOR-SASL").auth).toEqual(["PLAIN"]);
  });

  it("the same EHLO reply parses once and is shared read-only; a different one (say, after STARTTLS) parses anew", () => {
    const first = caps("250-mx.example", "250-PIPELINING", "250 AUTH PLAIN LOGIN");
    const again = caps("250-mx.example", "250-PIPELINING", "250 AUTH PLAIN LOGIN");
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => (first.auth as string[]).push("ANONYMOUS")).toThrow(TypeError);
    expect(() => (first.keywords as Map<string, readonly string[]>).set("STARTTLS", [])).toThrow(TypeError);
    expect(() => (first.keywords.get("AUTH") as string[]).push("X")).toThrow(TypeError);
    expect(first.auth).toEqual(["PLAIN", "LOGIN"]);
    const tls = caps("250-mx.example", "250-PIPELINING", "250 AUTH PLAIN LOGIN SCRAM-SHA-256");
    expect(tls).not.toBe(first);
    expect(tls.auth).toEqual(["PLAIN", "LOGIN", "SCRAM-SHA-256"]);
  });

  it("enhanced status codes are read exactly as RFC 3463 spells them, for every reply class", () => {
    const spelled = /^([245])\.(\d{1,3})\.(\d{1,3})(?= |$)/;
    const texts = ["2.1.0 Ok", "2.1.0", "5.7.8 bad", "4.4.2", "2.1234.5 x", "2.1.0x", "2..0 x", "3.0.0 go", "2.0.0.1 x", "5.999.999 x", "5.1000.1", "Ok 2.0.0", "", "2.", "2.1.", "2.1.1\tx", "4.7.0 "];
    for (const code of [250, 354, 421, 535]) {
      for (const text of texts) {
        const m = spelled.exec(text);
        const expected = m && m[1] === String(code)[0] ? m[0] : undefined;
        expect(parseReply([`${code} ${text}`]).enhanced, `${code} ${text}`).toBe(expected);
      }
    }
  });

  it("a HELO reply carries no extensions", () => {
    const c = parseCapabilities(parseReply(["250-x", "250 AUTH PLAIN"]), true);
    expect(c.helo).toBe(true);
    expect(c.auth).toEqual([]);
    expect(c.pipelining).toBe(false);
  });
});
