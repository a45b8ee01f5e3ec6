import { describe, expect, it } from "vitest";
import { failureCodeOf } from "../src/auth.js";
import { Pop3Capabilities } from "../src/index.js";
import { apopTimestamp, parseLine, unstuff } from "../src/reply.js";

describe("POP3 replies", () => {
  it("tells +OK, -ERR with codes, continuations and garbage apart", () => {
    expect(parseLine("+OK 2 320")).toEqual({ kind: "status", reply: { status: "+OK", text: "2 320", raw: "+OK 2 320" } });
    expect(parseLine("-ERR [IN-USE] Mailbox locked")).toMatchObject({ kind: "status", reply: { status: "-ERR", code: "IN-USE", text: "Mailbox locked" } });
    expect(parseLine("+ ")).toEqual({ kind: "continuation", text: "" });
    expect(parseLine("+")).toEqual({ kind: "continuation", text: "" });
    expect(parseLine("+ dj1vaw==")).toEqual({ kind: "continuation", text: "dj1vaw==" });
    expect(parseLine("+OKAY")).toEqual({ kind: "invalid", raw: "+OKAY" });
  });

  it("undoes dot-stuffing and finds the terminator", () => {
    expect(unstuff("..x")).toBe(".x");
    expect(unstuff("x")).toBe("x");
    expect(unstuff(".")).toBeUndefined();
  });

  it("finds the APOP timestamp", () => {
    expect(apopTimestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>")).toBe("<1896.697170952@dbc.mtview.ca.us>");
    expect(apopTimestamp("Dovecot ready.")).toBeUndefined();
  });

  it("maps codes as documented", () => {
    expect(failureCodeOf("AUTH", false, false)).toBe("authentication-failed");
    expect(failureCodeOf("SYS/TEMP", true, false)).toBe("temporary-failure");
    expect(failureCodeOf("IN-USE", true, false)).toBe("temporary-failure");
    expect(failureCodeOf(undefined, false, false)).toBe("mechanism-rejected");
    expect(failureCodeOf(undefined, true, false)).toBe("authentication-failed");
    expect(failureCodeOf(undefined, true, true)).toBe("aborted");
  });

  it("parses CAPA lines, mechanisms tokenized", () => {
    const caps = new Pop3Capabilities(["SASL PLAIN XOAUTH2 XOAUTH plain", "STLS", "IMPLEMENTATION Dovecot"]);
    expect(caps.mechanisms).toEqual(["PLAIN", "XOAUTH2", "XOAUTH"]);
    expect(caps.stls).toBe(true);
    expect(caps.args("implementation")).toEqual(["Dovecot"]);
  });
});
