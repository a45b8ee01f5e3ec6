/**
 * The POP3 client against hostile scripted servers (review round 3): a password echoed in an
 * escaped form, and plaintext injected after the STLS go-ahead.
 */
import { testCertificates } from "@saslkit/test-kit";
import { describe, expect, it } from "vitest";
import { Pop3Client } from "../src/index.js";
import { PASSWORD, PLAIN_B64, USER, fakeMutual, withServer, base, expectPop3Error } from "./helpers.js";



describe("POP3: a password echoed percent-encoded or quoted-printable never reaches the error", () => {
  it("PASS refused with the password echoed in escaped forms: masked in message, reply and transcript", async () => {
    const password = "p@ss w0rd/é=x";
    const echoed = "p%40ss%20w0rd%2F%C3%A9%3Dx and p@ss w0rd/=C3=A9=3Dx";
    const lines: string[] = [];
    await withServer(`S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\nC: USER alice\nS: +OK\nC: PASS ${password}\nS: -ERR [AUTH] rejected ${echoed}\n`, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), auth: { username: USER, password }, login: "user", transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("authentication-failed");
      const shown = `${error.message}\n${JSON.stringify(error.reply)}\n${error.stack}\n${lines.join("\n")}`;
      expect(shown).toContain("rejected **** and ****");
      expect(shown).not.toContain("w0rd%2F");
      expect(shown).not.toContain("w0rd/=C3");
    });
  });
});

describe("POP3: plaintext after the STLS go-ahead", () => {
  it("a line injected behind +OK is refused (tls-injection), nothing authenticates", async () => {
    const certs = await testCertificates();
    await withServer(
      "S: +OK ready\nC: CAPA\nS: +OK\nS: STLS\nS: SASL PLAIN\nS: .\nC: STLS\n!raw +OK go\\r\\n+OK injected\\r\\n\n!starttls\n!stall\n",
      async (server) => {
        const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }));
        expect(error.code).toBe("tls-injection");
        expect(error.phase).toBe("starttls");
        expect(server.received).toEqual(["CAPA", "STLS"]);
      },
      { tls: { key: certs.key, cert: certs.cert } },
    );
  });
});

describe("POP3: command()'s options are checked", () => {
  it.each([
    [{ timeoutMs: "300" }, "timeoutMs"],
    [{ multiline: "yes" }, "multiline"],
    [{ multiLine: true }, "multiLine"],
  ])("%j: invalid-option (%s), nothing sent", async (options, option) => {
    await withServer(`S: +OK ready\nC: CAPA\nS: +OK\nS: SASL PLAIN\nS: .\nC: AUTH PLAIN ${PLAIN_B64}\nS: +OK in\n!stall\n`, async (server) => {
      const conn = await Pop3Client.connect(base(server.port));
      const error = await expectPop3Error(conn.command("LIST", options as never));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(server.received).toEqual(["CAPA", `AUTH PLAIN ${PLAIN_B64}`]);
      await conn.close();
    });
  });
});

describe("POP3: the TLS default holds for an authenticate() after connect()", () => {
  it("connect() without credentials continued in clear (no STLS); authenticate() then refuses like connect() would", async () => {
    await withServer("S: +OK ready\nC: CAPA\nS: +OK\nS: SASL X-MUTUAL\nS: USER\nS: .\n!stall\n", async (server) => {
      const { tls: _default, ...options } = base(server.port);
      const conn = await Pop3Client.connect({ ...options, auth: undefined, mechanisms: [fakeMutual], policy: { cleartext: "never" } });
      expect(conn.secure).toBe(false);
      const error = await expectPop3Error(conn.authenticate({ username: USER, password: PASSWORD }));
      expect(error.code).toBe("tls-required");
      expect(conn.authenticated).toBe(false);
      expect(server.received).toEqual(["CAPA"]);
      await conn.close();
    });
  });
});

describe("POP3: auth.username must be a string (a function was accepted, then sent as an empty USER)", () => {
  it("a function username is an invalid-option error before anything is sent", async () => {
    await withServer("S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\nC: USER \nS: +OK\nC: PASS *\nS: +OK\n", async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), auth: { username: (() => USER) as never, password: PASSWORD }, login: "user" }));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe("auth.username");
      expect(server.received).toEqual([]);
    });
  });
});

describe("POP3: the APOP digest echoed in upper case never reaches the error (review round 5)", () => {
  it("an -ERR quoting the digest in either hex case: both masked in message, reply and transcript", async () => {
    // RFC 1939 §7: MD5("<1896.697170952@dbc.mtview.ca.us>tanstaaf").
    const digest = "c4c9334bac560ecc979e58001b3e22fb";
    const lines: string[] = [];
    const script = `S: +OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\nC: CAPA\nS: -ERR no\nC: APOP mrose ${digest}\nS: -ERR [AUTH] bad digest ${digest.toUpperCase()} (${digest})\n`;
    await withServer(script, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), login: "apop", auth: { username: "mrose", password: "tanstaaf" }, transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("authentication-failed");
      const shown = `${error.message}\n${JSON.stringify(error.reply)}\n${String(error.stack)}\n${lines.join("\n")}`;
      expect(shown).toContain("bad digest **** (****)");
      expect(shown.toLowerCase()).not.toContain(digest);
    });
  });
});

describe("POP3: command() takes a string only (review round 5)", () => {
  it.each([[undefined], [123], [{ toString: (() => { let n = 0; return () => (n++ === 0 ? "STAT" : "STAT\r\nDELE 1"); })() }]])("command(%s): TypeError, nothing sent", async (command) => {
    await withServer("S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n!stall\n", async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), auth: undefined });
      await expect(conn.command(command as never)).rejects.toThrow(TypeError);
      await new Promise((r) => setTimeout(r, 50));
      expect(server.received).toEqual(["CAPA"]);
      await conn.close();
    });
  });
});
