import { describe, expect, it } from "vitest";
import { formatReply, parseCommand, parsePathArgument } from "../src/commands.js";

describe("parseCommand", () => {
  it("upper-cases the verb and keeps the arguments verbatim", () => {
    expect(parseCommand("mail FROM:<a@b>")).toEqual({ verb: "MAIL", args: "FROM:<a@b>" });
    expect(parseCommand("QUIT")).toEqual({ verb: "QUIT", args: "" });
    expect(parseCommand("AUTH PLAIN  x")).toEqual({ verb: "AUTH", args: "PLAIN  x" });
  });
});

describe("parsePathArgument", () => {
  it.each([
    ["FROM:<a@b.test>", { address: "a@b.test", params: {} }],
    ["from:<a@b.test>", { address: "a@b.test", params: {} }],
    ["FROM: <a@b.test>", { address: "a@b.test", params: {} }],
    ["FROM:<>", { address: "", params: {} }],
    ["FROM:<a@b.test> SIZE=10 BODY=8BITMIME SMTPUTF8", { address: "a@b.test", params: { SIZE: "10", BODY: "8BITMIME", SMTPUTF8: true } }],
    ["FROM:<@relay.test,@r2.test:a@b.test>", { address: "a@b.test", params: {} }],
    ['FROM:<"odd >local"@b.test>', { address: '"odd >local"@b.test', params: {} }],
    ["FROM:<jörg@bücher.test> SMTPUTF8", { address: "jörg@bücher.test", params: { SMTPUTF8: true } }],
  ])("accepts %s", (args, expected) => {
    expect(parsePathArgument(args, "FROM")).toEqual(expected);
  });

  it("accepts the bare postmaster recipient only in RCPT", () => {
    expect(parsePathArgument("TO:<Postmaster>", "TO")).toEqual({ address: "Postmaster", params: {} });
    expect(parsePathArgument("FROM:<postmaster>", "FROM")).toBe("Malformed address");
  });

  it.each([
    ["TO:<a@b.test>", "Syntax: MAIL FROM:<address>"],
    ["FROM:a@b.test", "Path must be enclosed in angle brackets"],
    ["FROM:<a@b.test", "Unterminated path"],
    ["FROM:<a b@c.test>", "Malformed address"],
    ["FROM:<nobody>", "Malformed address"],
    ["FROM:<@relay.test>", "Malformed source route"],
    ["FROM:<a@b.test> =x", 'Malformed parameter "=x"'],
  ])("refuses %s with a reason", (args, reason) => {
    expect(parsePathArgument(args, "FROM")).toBe(reason);
  });

  // RFC 5321 §4.1.2: no control character anywhere in a path or an ESMTP parameter (atext,
  // qtextSMTP and esmtp-value are all printable). A NUL or an escape sequence in an envelope
  // address reaches the application's handler, its logs and whatever it relays to.
  it.each([
    ["FROM:<a\u0000b@c.test>", "NUL in the local part"],
    ["FROM:<a@c.test\u0000>", "NUL in the domain"],
    ["FROM:<a\u001b[31m@c.test>", "an escape sequence"],
    ["FROM:<a\u007f@c.test>", "DEL"],
    ['FROM:<"a\u0001b"@c.test>', "a control in a quoted local part"],
    ["FROM:<a@c.test> AUTH=x\u0000y", "a control in a parameter value"],
  ])("refuses %j (%s)", (args) => {
    expect(parsePathArgument(args, "FROM")).toBe("Control character in the path or its parameters");
  });
});

describe("formatReply", () => {
  it("formats single and multi-line replies with the enhanced code on each line", () => {
    expect(formatReply(250, "2.0.0", "OK")).toBe("250 2.0.0 OK");
    expect(formatReply(250, undefined, ["a", "b", "c"])).toBe("250-a\r\n250-b\r\n250 c");
    expect(formatReply(535, "5.7.8", ["x", "y"])).toBe("535-5.7.8 x\r\n535 5.7.8 y");
  });
});
