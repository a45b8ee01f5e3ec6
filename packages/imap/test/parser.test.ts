import { describe, expect, it } from "vitest";
import { failureCodeOf } from "../src/auth.js";
import { ImapCapabilities } from "../src/index.js";
import { encodeLoginArgument } from "../src/login.js";
import { ImapParseError, literalLength, parseRespText, parseResponse, tokenize } from "../src/parser.js";

describe("IMAP response parser", () => {
  it("classifies continuations: '+', '+ ' and '+ data'", () => {
    expect(parseResponse(["+"])).toEqual({ kind: "continuation", text: "" });
    expect(parseResponse(["+ "])).toEqual({ kind: "continuation", text: "" });
    expect(parseResponse(["+ dj1vaw=="])).toEqual({ kind: "continuation", text: "dj1vaw==" });
  });

  it("parses tagged responses with response codes", () => {
    expect(parseResponse(["A7 no [AUTHENTICATIONFAILED] Authentication failed."])).toMatchObject({
      kind: "tagged",
      tag: "A7",
      status: "NO",
      code: { name: "AUTHENTICATIONFAILED", args: "" },
      text: "Authentication failed.",
    });
    expect(parseRespText("[CAPABILITY IMAP4rev1 AUTH=PLAIN] Logged in")).toEqual({ code: { name: "CAPABILITY", args: "IMAP4rev1 AUTH=PLAIN" }, text: "Logged in" });
    expect(parseRespText("no code")).toEqual({ text: "no code" });
  });

  it("parses untagged numbers, status responses and data", () => {
    expect(parseResponse(["* 23 EXISTS"])).toMatchObject({ kind: "untagged", type: "EXISTS", number: 23, values: [] });
    expect(parseResponse(["* BYE [UNAVAILABLE] later"])).toMatchObject({ type: "BYE", code: { name: "UNAVAILABLE" }, text: "later" });
    expect(parseResponse(["* CAPABILITY IMAP4rev1 AUTH=PLAIN"])).toMatchObject({ type: "CAPABILITY", values: ["IMAP4rev1", "AUTH=PLAIN"] });
  });

  it("tokenizes quoted strings with escapes, NIL, nested lists and bracketed atoms", () => {
    expect(tokenize(['(\\Noselect) "/" "a \\"b\\" \\\\c" NIL (x (y)) BODY[HEADER.FIELDS (FROM TO)]<0>'])).toEqual([
      ["\\Noselect"],
      "/",
      'a "b" \\c',
      null,
      ["x", ["y"]],
      "BODY[HEADER.FIELDS (FROM TO)]<0>",
    ]);
  });

  it("takes literal bytes from the part after a {n} announcement", () => {
    const bytes = new Uint8Array(Buffer.from("a\r\nb"));
    expect(literalLength("* 1 FETCH (BODY[] {4}")).toBe(4);
    expect(literalLength("* OK no literal")).toBeUndefined();
    expect(tokenize(["(BODY[] {4}", bytes, ")"])).toEqual([["BODY[]", bytes]]);
  });

  it("rejects malformed input as ImapParseError", () => {
    expect(() => tokenize(['"unterminated'])).toThrow(ImapParseError);
    expect(() => tokenize(["(a b"])).toThrow(ImapParseError);
    expect(() => tokenize(["a)"])).toThrow(ImapParseError);
    expect(() => tokenize(["{5}", new Uint8Array(3)])).toThrow(ImapParseError);
    expect(() => parseResponse(["garbage"])).toThrow(ImapParseError);
  });
});

describe("IMAP capabilities", () => {
  it("tokenizes AUTH= atoms (and AUTH-LOGIN) without substring matching", () => {
    const caps = ImapCapabilities.parse("IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=XOAUTH AUTH=XOAUTH2 AUTH-LOGIN auth=plain LOGINDISABLED");
    expect(caps.mechanisms).toEqual(["PLAIN", "XOAUTH", "XOAUTH2", "LOGIN"]);
    expect(caps.saslIr).toBe(true);
    expect(caps.loginDisabled).toBe(true);
    expect(caps.startTls).toBe(false);
  });
});

describe("failure mapping", () => {
  it("maps response codes and BAD as documented", () => {
    expect(failureCodeOf("NO", "AUTHENTICATIONFAILED", true, false)).toBe("authentication-failed");
    expect(failureCodeOf("NO", "AUTHORIZATIONFAILED", true, false)).toBe("authorization-failed");
    expect(failureCodeOf("NO", "UNAVAILABLE", false, false)).toBe("temporary-failure");
    expect(failureCodeOf("NO", "PRIVACYREQUIRED", false, false)).toBe("encryption-required");
    expect(failureCodeOf("NO", undefined, false, false)).toBe("authentication-failed");
    expect(failureCodeOf("BAD", undefined, false, false)).toBe("mechanism-rejected");
    expect(failureCodeOf("BAD", undefined, true, false)).toBe("protocol-error");
    expect(failureCodeOf("BAD", undefined, true, true)).toBe("aborted");
  });
});

describe("LOGIN arguments", () => {
  const plain = ImapCapabilities.parse("IMAP4rev1");
  it("quotes printable ASCII with escapes, uses literals otherwise, refuses NUL", () => {
    expect(encodeLoginArgument('a"b\\c', plain)).toEqual({ text: '"a\\"b\\\\c"' });
    expect(encodeLoginArgument("ü", plain)).toEqual({ text: "{2}", literal: new Uint8Array([0xc3, 0xbc]) });
    expect(encodeLoginArgument("ü", ImapCapabilities.parse("LITERAL+"))?.text).toBe("{2+}");
    expect(encodeLoginArgument("a\0b", plain)).toBeUndefined();
  });
});
