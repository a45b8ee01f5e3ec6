/**
 * The IMAP client against hostile scripted servers (review round 3): malformed data inside
 * responses the client keeps, literal announcements past ten digits, untagged floods and drips
 * while a LOGIN literal or an AUTHENTICATE step waits, a password echoed in the quoted form LOGIN
 * sent it in, and plaintext injected after the STARTTLS go-ahead.
 */
import { testCertificates } from "@saslkit/test-kit";
import { describe, expect, it } from "vitest";
import { ImapClient, ImapError } from "../src/index.js";
import { PASSWORD, PLAIN_B64, USER, fakeEcho, fakeMutual, fakePlain, withServer, base, expectImapError } from "./helpers.js";



/** `n` copies of the server line `line`, each after a pause of `ms`. */
const drip = (n: number, ms: number, line: string) => Array.from({ length: n }, () => `!sleep ${ms}\nS: ${line}\n`).join("");

describe("IMAP: malformed data in responses the client keeps is a typed error", () => {
  it.each([
    ["an unbalanced list", "* CAPABILITY IMAP4rev1 (AUTH=PLAIN"],
    ["an unterminated quoted string", '* CAPABILITY IMAP4rev1 "AUTH=PLAIN'],
    ["a negative literal", "* CAPABILITY IMAP4rev1 {-1}"],
    ["a non-numeric literal", "* CAPABILITY IMAP4rev1 {abc}"],
  ])("CAPABILITY with %s: protocol-error ImapError, not a parser exception", async (_what, line) => {
    await withServer(`S: * OK ready\nC: A1 CAPABILITY\nS: ${line}\nS: A1 OK done\n!stall\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port)));
      expect(error.code).toBe("protocol-error");
      expect(error.phase).toBe("capability");
    });
  });

  it("a command's untagged response with a malformed list: protocol-error from command(), not from a getter later", async () => {
    const script = `S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\nC: A2 LIST "" *\nS: * LIST (\\HasNoChildren "/" INBOX\nS: A2 OK done\n`;
    await withServer(script, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      const error = await expectImapError(conn.command('LIST "" *'));
      expect(error.code).toBe("protocol-error");
      expect(error.phase).toBe("command");
      await conn.close();
    });
  });

  it("a literal announced with more than ten digits is refused by the byte limit, not read as text", async () => {
    const script = `S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\nC: A2 FETCH 1 BODY[]\nS: * 1 FETCH (BODY[] {99999999999}\nS: A2 OK forged completion inside the literal\n!stall\n`;
    await withServer(script, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      const error = await expectImapError(conn.command("FETCH 1 BODY[]"));
      expect(error.code).toBe("response-too-large");
      await conn.close();
    });
  });
});

describe("IMAP: one deadline and one budget per wait for the server's answer", () => {
  const literalLogin = `S: * OK [CAPABILITY IMAP4rev1] ready\nC: A1 LOGIN "alice" {13}\n`;
  const rest = "S: + go\nC: pässwörd-ü\nS: A1 OK [CAPABILITY IMAP4rev1] in\n";

  it("LOGIN's synchronizing literal: untagged lines dripping under timeouts.reply do not extend the wait", async () => {
    await withServer(`${literalLogin}${drip(8, 150, "* OK still here")}${rest}`, async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: undefined, timeouts: { reply: 500 } });
      const started = Date.now();
      const error = await expectImapError(conn.authenticate({ username: USER, password: "pässwörd-ü" }));
      expect(error.code).toBe("timeout");
      expect(Date.now() - started).toBeLessThan(1000);
      expect(server.received).not.toContain("pässwörd-ü");
      await conn.close();
    });
  });

  it("LOGIN's synchronizing literal: untagged responses count against limits.untagged", async () => {
    await withServer(`${literalLogin}${"S: * CAPABILITY IMAP4rev1 X\n".repeat(20)}${rest}`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), auth: { username: USER, password: "pässwörd-ü" }, login: "only", limits: { untagged: 5 } }));
      expect(error.code).toBe("too-many-responses");
      expect(server.received).not.toContain("pässwörd-ü");
    });
  });

  it("AUTHENTICATE: untagged lines dripping under timeouts.reply do not extend the wait for the completion", async () => {
    const script = `S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\n${drip(8, 150, "* OK still here")}S: A1 OK [CAPABILITY IMAP4rev1] in\n`;
    await withServer(script, async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: undefined, timeouts: { reply: 500 } });
      const started = Date.now();
      const error = await expectImapError(conn.authenticate({ username: USER, password: PASSWORD }));
      expect(error.code).toBe("timeout");
      expect(Date.now() - started).toBeLessThan(1000);
      expect(conn.authenticated).toBe(false);
      await conn.close();
    });
  });
});

describe("IMAP: a password echoed as LOGIN quoted it never reaches the error", () => {
  it('a password with " and \\ is masked in its escaped form too', async () => {
    const password = 'Pa"55\\word!';
    const quoted = 'Pa\\"55\\\\word!';
    const script = `S: * OK [CAPABILITY IMAP4rev1] ready\nC: A1 LOGIN "alice" "${quoted}"\nS: A1 NO [AUTHENTICATIONFAILED] wrong password "${quoted}"\n`;
    const lines: string[] = [];
    await withServer(script, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), auth: { username: USER, password }, login: "only", transcript: (e) => lines.push(e.text) }));
      expect(error.code).toBe("authentication-failed");
      const shown = `${error.message}\n${JSON.stringify(error.reply)}\n${error.stack}\n${lines.join("\n")}`;
      expect(shown).toContain("wrong password");
      expect(shown).not.toContain(quoted);
      expect(shown).not.toContain("55\\\\word");
    });
  });
});

describe("IMAP: plaintext after the STARTTLS go-ahead", () => {
  it("a response injected behind the tagged OK is refused (tls-injection), nothing authenticates", async () => {
    const certs = await testCertificates();
    const script = "S: * OK [CAPABILITY IMAP4rev1 STARTTLS] ready\nC: A1 STARTTLS\n!raw A1 OK go\\r\\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\\r\\n\n!starttls\n!stall\n";
    await withServer(
      script,
      async (server) => {
        const error = await expectImapError(ImapClient.connect({ ...base(server.port), tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } }));
        expect(error.code).toBe("tls-injection");
        expect(error.phase).toBe("starttls");
        expect(server.received).toEqual(["A1 STARTTLS"]);
      },
      { tls: { key: certs.key, cert: certs.cert } },
    );
  });
});

describe("IMAP: BYE in the middle of AUTHENTICATE ends the authentication", () => {
  it.each([
    ["[CANNOT] ", "aborted"],
    ["[UNAVAILABLE] ", "temporary-failure"],
    ["", "aborted"],
  ])("BYE %swith the connection left open: %s, no next mechanism and no LOGIN sent after it", async (code, expected) => {
    const script = `S: * OK [CAPABILITY IMAP4rev1 AUTH=X-ECHO AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE X-ECHO\nS: * BYE ${code}going away\n!stall\n`;
    await withServer(script, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), mechanisms: [fakeEcho, fakePlain], login: "fallback", policy: { cleartext: "allow" }, timeouts: { connect: 3000, reply: 500 } }));
      expect(error.code).toBe(expected);
      expect(error.reply).toMatchObject({ status: "BYE" });
      expect(server.received).toEqual(["A1 AUTHENTICATE X-ECHO"]);
    });
  });
});

describe("IMAP: a mistyped policy is an invalid-option error, never a weaker choice", () => {
  it.each([
    [{ exclude: "PLAIN" }, "policy.exclude"],
    [{ excludes: ["PLAIN"] }, "policy.excludes"],
    [{ order: "SCRAM-SHA-256" }, "policy.order"],
    [{ force: ["PLAIN"] }, "policy.force"],
    [{ cleartext: "Never" }, "policy.cleartext"],
    [{ cleartext: false }, "policy.cleartext"],
  ])("policy %j: refused (%s) before anything is sent", async (policy, option) => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), policy: policy as never }));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(server.received).toEqual([]);
    });
  });
});

describe("IMAP: mechanisms that are no mechanism source are an invalid-option error, not a TypeError at login", () => {
  it.each([["SCRAM-SHA-256"], [["PLAIN"]], [null], [{}], [[{ name: "PLAIN" }]]])("mechanisms %j: refused before anything is sent", async (mechanisms) => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), mechanisms: mechanisms as never }));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe("mechanisms");
      expect(server.received).toEqual([]);
    });
  });
});

describe("IMAP: command()'s options are checked", () => {
  it.each([
    [{ timeoutMs: "300" }, "timeoutMs"],
    [{ timeoutMs: -1 }, "timeoutMs"],
    [{ timeout: 300 }, "timeout"],
  ])("%j: invalid-option (%s), nothing sent; a string timeoutMs no longer waits forever", async (options, option) => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n!stall\n`, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      const error = await expectImapError(conn.command("NOOP", options as never));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(server.received).toEqual([`A1 AUTHENTICATE PLAIN ${PLAIN_B64}`]);
      await conn.close();
    });
  });
});

describe("IMAP: a completion for the wrong tag closes the connection", () => {
  it.each([
    ["AUTHENTICATE", `S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A7 OK [CAPABILITY IMAP4rev1] in\n!stall\n`, "fallback"],
    ["LOGIN's literal wait", `S: * OK [CAPABILITY IMAP4rev1] ready\nC: A1 LOGIN "alice" {13}\nS: A7 OK in\n!stall\n`, "only"],
  ] as const)("during %s: protocol-error, not authenticated, and the connection is not left out of step", async (_what, script, login) => {
    await withServer(script, async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: undefined, login });
      const error = await expectImapError(conn.authenticate({ username: USER, password: login === "only" ? "pässwörd-ü" : PASSWORD }));
      expect(error.code).toBe("protocol-error");
      expect(conn.authenticated).toBe(false);
      expect(conn.closed).toBe(true);
    });
  });
});

describe("IMAP: the TLS default holds for an authenticate() after connect()", () => {
  it("connect() without credentials continued in clear (no STARTTLS); authenticate() then refuses like connect() would", async () => {
    await withServer("S: * OK [CAPABILITY IMAP4rev1 AUTH=X-MUTUAL] ready\n!stall\n", async (server) => {
      const { tls: _default, ...options } = base(server.port);
      const conn = await ImapClient.connect({ ...options, auth: undefined, mechanisms: [fakeMutual], policy: { cleartext: "never" } });
      expect(conn.secure).toBe(false);
      const error = await expectImapError(conn.authenticate({ username: USER, password: PASSWORD }));
      expect(error.code).toBe("tls-required");
      expect(conn.authenticated).toBe(false);
      expect(server.received).toEqual([]);
      await conn.close();
    });
  });
});

describe("IMAP: command() takes a string only (review round 5)", () => {
  it.each([[undefined], [123], [["NOOP"]]])("command(%j): TypeError, nothing sent", async (command) => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n!stall\n`, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      await expect(conn.command(command as never)).rejects.toThrow(TypeError);
      expect(server.received).toEqual([`A1 AUTHENTICATE PLAIN ${PLAIN_B64}`]);
      await conn.close();
    });
  });

  it("an object whose text changes between reads cannot smuggle CR LF past the check", async () => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n!stall\n`, async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      let reads = 0;
      const shifty = { toString: () => (reads++ === 0 ? "NOOP" : "NOOP\r\nA9 DELETE INBOX") };
      await expect(conn.command(shifty as never)).rejects.toThrow(TypeError);
      await new Promise((r) => setTimeout(r, 50));
      expect(server.received).toEqual([`A1 AUTHENTICATE PLAIN ${PLAIN_B64}`]);
      await conn.close();
    });
  });
});
