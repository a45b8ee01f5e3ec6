import { describe, expect, it } from "vitest";
import { authMechanisms, isLoopbackHost } from "../src/auth.js";
import { NodemailerSaslExchange, parseReply } from "../src/exchange.js";
import { transportTls } from "../src/transport.js";

/** An exchange whose server answers from a list; records every line sent and payload announced. */
function scripted(replies: string[]) {
  const sent: string[] = [];
  const payloads: string[] = [];
  const exchange = new NodemailerSaslExchange(
    async (line) => {
      sent.push(line);
      const reply = replies.shift();
      if (reply === undefined) throw new Error(`no reply scripted for ${line}`);
      return reply;
    },
    (p) => payloads.push(p),
  );
  return { exchange, sent, payloads };
}

describe("reply parsing", () => {
  it("reads a multi-line reply as nodemailer hands it over (lines joined by \\n)", () => {
    const r = parseReply("250-mail.example\n250-AUTH PLAIN SCRAM-SHA-256\n250 STARTTLS");
    expect(r.code).toBe(250);
    expect(r.lines).toEqual(["mail.example", "AUTH PLAIN SCRAM-SHA-256", "STARTTLS"]);
    expect(authMechanisms(r)).toEqual(["PLAIN", "SCRAM-SHA-256"]);
  });

  it("reads the enhanced status code of a final reply", () => {
    const r = parseReply("535 5.7.8 Authentication failed.");
    expect(r).toMatchObject({ code: 535, enhanced: "5.7.8" });
  });

  it("accepts the old AUTH= form and an AUTH line without mechanisms", () => {
    expect(authMechanisms(parseReply("250-x\n250-AUTH=LOGIN PLAIN\n250 AUTH"))).toEqual(["LOGIN", "PLAIN"]);
  });

  it("gives code 0 for text that is not an SMTP reply", () => {
    expect(parseReply("garbage").code).toBe(0);
  });
});

describe("SASL framing over sendCommand", () => {
  it("null initial response sends AUTH X alone; an empty one sends AUTH X =", async () => {
    const a = scripted(["235 2.7.0 ok"]);
    await a.exchange.begin("LOGIN", null);
    const b = scripted(["235 2.7.0 ok"]);
    await b.exchange.begin("EXTERNAL", new Uint8Array(0));
    expect([a.sent, b.sent]).toEqual([["AUTH LOGIN"], ["AUTH EXTERNAL ="]]);
  });

  it("decodes 334 challenges and base64-encodes responses, announcing each payload before it is sent", async () => {
    const { exchange, sent, payloads } = scripted(["334 Y2hhbGxlbmdl", "235 2.7.0 ok"]);
    const ir = new TextEncoder().encode("first");
    const first = await exchange.begin("SCRAM-SHA-256", ir);
    expect(first).toEqual({ type: "challenge", data: new TextEncoder().encode("challenge") });
    const done = await exchange.respond(new TextEncoder().encode("second"));
    expect(done.type).toBe("success");
    expect(sent).toEqual(["AUTH SCRAM-SHA-256 Zmlyc3Q=", "c2Vjb25k"]);
    expect(payloads).toEqual(["Zmlyc3Q=", "c2Vjb25k"]);
    expect(exchange.authSent).toBe(true);
  });

  it("a malformed challenge and a multi-line 334 are reported, not decoded", async () => {
    expect(await scripted(["334 !!!"]).exchange.begin("X", null)).toMatchObject({ type: "malformed" });
    expect(await scripted(["334-YQ==\n334 YQ=="]).exchange.begin("X", null)).toMatchObject({ type: "malformed" });
  });

  it("maps final replies to core's failure codes and cancels with *", async () => {
    expect(await scripted(["535 5.7.8 no"]).exchange.begin("X", null)).toMatchObject({ type: "failure", code: "authentication-failed", reply: { status: "535", enhanced: "5.7.8", text: "no" } });
    expect(await scripted(["504 5.5.4 no"]).exchange.begin("X", null)).toMatchObject({ code: "mechanism-rejected" });
    expect(await scripted(["534 5.7.9 too weak"]).exchange.begin("X", null)).toMatchObject({ code: "mechanism-too-weak" });
    expect(await scripted(["538 5.7.11 tls"]).exchange.begin("X", null)).toMatchObject({ code: "encryption-required" });
    expect(await scripted(["454 4.7.0 later"]).exchange.begin("X", null)).toMatchObject({ code: "temporary-failure" });
    const c = scripted(["501 5.7.0 cancelled"]);
    expect(await c.exchange.cancel()).toMatchObject({ type: "failure", code: "aborted" });
    expect(c.sent).toEqual(["*"]);
  });
});

describe("what the hook reads from the transport options", () => {
  it("TLS is certain only with secure (or port 465) and requireTLS", () => {
    expect(transportTls({ secure: true })).toBe("implicit");
    expect(transportTls({ port: 465 })).toBe("implicit");
    expect(transportTls({ port: "465", secure: false })).toBe("opportunistic");
    expect(transportTls({ port: 587, requireTLS: true })).toBe("required");
    expect(transportTls({ port: 587, ignoreTLS: true })).toBe("none");
    expect(transportTls({ port: 587 })).toBe("opportunistic");
    // secured: the caller's connection is TLS already; without one, nodemailer connects in cleartext.
    expect(transportTls({ port: 587, secured: true, connection: {} })).toBe("implicit");
    expect(transportTls({ port: 587, secured: true })).toBe("opportunistic");
  });

  it("loopback means 127/8, ::1 and localhost, nothing else", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST.", "::ffff:127.0.0.1"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["smtp.example.com", "10.0.0.1", "128.0.0.1", "localhost.example.com", undefined]) expect(isLoopbackHost(h), String(h)).toBe(false);
  });
});
