/**
 * IMAP adapter against recorded transcripts (STYLE.md practice 12): each file under
 * transcripts/ is replayed by a real loopback server that checks every client line.
 */
import { SaslError, type MechanismProvider } from "@saslkit/core";
import { type TranscriptEntry } from "@saslkit/transport";
import { testCertificates } from "@saslkit/test-kit";
import { describe, expect, it } from "vitest";
import { ImapClient, ImapError, type ImapConnectOptions } from "../src/index.js";
import { PASSWORD, PLAIN_B64, USER, fakeEcho, fakeMutual, fakePlain, transcript, withServer, base, expectImapError } from "./helpers.js";



describe("IMAP transcripts", () => {
  it("uses capabilities from the greeting, SASL-IR, then SELECT and LOGOUT", async () => {
    await withServer(transcript("greeting-caps-sasl-ir.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      expect(conn.authenticated).toBe(true);
      expect(conn.mechanism).toBe("PLAIN");
      expect(conn.capabilities.has("MOVE")).toBe(true);
      expect(conn.capabilities.mechanisms).toEqual([]);
      const select = await conn.command("SELECT INBOX");
      expect(select.tagged.status).toBe("OK");
      expect(select.tagged.code).toEqual({ name: "READ-WRITE", args: "" });
      expect(select.untagged.find((u) => u.type === "EXISTS")?.number).toBe(3);
      const flags = select.untagged.find((u) => u.type === "FLAGS");
      expect(flags?.values).toEqual([["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"]]);
      await conn.logout();
      expect(conn.closed).toBe(true);
      await server.done();
    });
  });

  it("waits for an empty + without SASL-IR and tolerates untagged responses during AUTHENTICATE", async () => {
    await withServer(transcript("no-sasl-ir-untagged.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      expect(conn.capabilities.has("NAMESPACE")).toBe(true);
      expect((await conn.command("NOOP")).tagged.status).toBe("OK");
      await conn.close();
      await server.done();
    });
  });

  it("re-queries CAPABILITY when the tagged OK did not carry it", async () => {
    await withServer(transcript("requery-capability.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      expect(conn.capabilities.has("ENABLE")).toBe(true);
      expect(conn.capabilities.rev2).toBe(true);
      await conn.close();
      await server.done();
      expect(server.received.at(-1)).toBe("A2 CAPABILITY");
    });
  });

  it("never sends LOGIN when LOGINDISABLED is advertised", async () => {
    await withServer(transcript("logindisabled.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), login: "fallback" }));
      expect(error.code).toBe("no-mechanism");
      expect(error.cause).toBeInstanceOf(SaslError);
      expect(server.received).toEqual([]);
    });
    await withServer(transcript("logindisabled.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), login: "only" }));
      expect(error.code).toBe("login-disabled");
      expect(server.received).toEqual([]);
    });
  });

  it("treats BAD before any message of the mechanism as mechanism-level and falls back to LOGIN", async () => {
    await withServer(transcript("bad-then-login.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      // SASL names only in `mechanism`; the protocol login is reported apart.
      expect(conn.mechanism).toBeUndefined();
      expect(conn.login).toBe("LOGIN");
      expect(conn.negotiation?.login).toEqual({ command: "LOGIN", ok: true });
      expect(conn.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
      expect(conn.capabilities.has("IDLE")).toBe(true);
      await conn.close();
      await server.done();
    });
  });

  it("a mistyped policy.force (not a SASL name, or empty) chooses nothing: no SASL mechanism and no LOGIN fallback", async () => {
    for (const force of ["SCRAM SHA-256", ""]) {
      await withServer("S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\n!stall\n", async (server) => {
        const error = await expectImapError(ImapClient.connect({ ...base(server.port), policy: { force } }));
        expect({ force, code: error.code, login: error.negotiation?.login }).toEqual({ force, code: "no-mechanism", login: undefined });
        expect(server.received).toEqual([]); // neither AUTHENTICATE nor LOGIN went out
      });
    }
  });

  it("no fallback after credentials were sent: a BAD to PLAIN's initial response ends the attempt", async () => {
    const extra: MechanismProvider = { ...fakePlain, name: "LOGIN", priority: 200 } as MechanismProvider;
    await withServer(transcript("bad-after-secret.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port, [fakePlain, extra])));
      expect(error.code).toBe("authentication-failed");
      expect(error.mechanism).toBe("PLAIN");
      expect(error.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
      expect(error.negotiation?.login).toBeUndefined();
      await server.done();
      // The password went out once: nothing after the first AUTHENTICATE.
      expect(server.received).toEqual(["A1 AUTHENTICATE PLAIN AGFsaWNlAFBhNTUtd29yZCE="]);
    });
  });

  it("with login: never, a BAD is a mechanism-rejected ImapError carrying the reply", async () => {
    await withServer(transcript("bad-then-login.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), login: "never" }));
      expect(error.code).toBe("mechanism-rejected");
      expect(error.phase).toBe("authenticate");
      expect(error.reply).toMatchObject({ status: "BAD", text: "Unsupported authentication mechanism." });
      expect(error.command).toBe("A1 AUTHENTICATE PLAIN");
      expect(error.mechanism).toBe("PLAIN");
      expect(error.login).toBeUndefined();
    });
  });

  it("maps NO [AUTHENTICATIONFAILED] to authentication-failed, without fallback, and masks secrets", async () => {
    const lines: TranscriptEntry[] = [];
    await withServer(transcript("authenticationfailed.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), transcript: (e) => lines.push(e) }));
      expect(error.code).toBe("authentication-failed");
      expect(error.reply?.code).toBe("AUTHENTICATIONFAILED");
      const cause = error.cause as SaslError;
      expect(cause).toBeInstanceOf(SaslError);
      expect(cause.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
      await server.done();
      const everything = [error.message, error.command, JSON.stringify(error.reply), cause.message, ...lines.filter((l) => l.direction === "C").map((l) => l.text)].join("\n");
      expect(everything).not.toContain(PASSWORD);
      expect(everything).not.toContain(PLAIN_B64);
      expect(lines.find((l) => l.direction === "C")?.text).toBe("A1 AUTHENTICATE PLAIN ****");
    });
  });

  it("maps NO [UNAVAILABLE] to temporary-failure", async () => {
    await withServer(transcript("unavailable.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port)));
      expect(error.code).toBe("temporary-failure");
      await server.done();
    });
  });

  it("reports a dropped connection as closed in the authenticate phase", async () => {
    await withServer(transcript("dropped.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port, [fakeEcho])));
      expect(error.code).toBe("closed");
      expect(error.phase).toBe("authenticate");
      await server.done();
    });
  });

  it("cancels a server looping on + with * and reports too-many-rounds", async () => {
    await withServer(transcript("loop.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port, [fakeEcho]), maxRounds: 3 }));
      expect(error.code).toBe("too-many-rounds");
      await server.done();
    });
  });

  it("discards capabilities after STARTTLS and asks again; success data as a + challenge", async () => {
    const certs = await testCertificates();
    const notes: TranscriptEntry[] = [];
    await withServer(
      transcript("starttls.txt"),
      async (server) => {
        const conn = await ImapClient.connect({
          ...base(server.port, [fakePlain, fakeMutual]),
          tls: "starttls",
          tlsOptions: { ca: certs.ca, servername: "localhost" },
          transcript: (e) => notes.push(e),
        });
        expect(conn.secure).toBe(true);
        expect(conn.mechanism).toBe("X-MUTUAL");
        expect(conn.capabilities.mechanisms).toEqual([]);
        expect(conn.capabilities.has("IDLE")).toBe(true);
        await conn.close();
        await server.done();
      },
      { tls: { key: certs.key, cert: certs.cert } },
    );
  });

  it("fails closed when STARTTLS is required but missing", async () => {
    await withServer(transcript("greeting-caps-sasl-ir.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), tls: "starttls" }));
      expect(error.code).toBe("tls-required");
      expect(server.received).toEqual([]);
    });
  });

  it("accepts success data in the tagged OK for a mutual-auth mechanism", async () => {
    await withServer(transcript("success-data-in-ok.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port, [fakeMutual]));
      expect(conn.mechanism).toBe("X-MUTUAL");
      await conn.close();
      await server.done();
    });
  });

  it("refuses PREAUTH on cleartext when TLS is required, accepts it otherwise", async () => {
    await withServer(transcript("preauth.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), tls: "starttls" }));
      expect(error.code).toBe("tls-required");
      expect(error.reply?.status).toBe("PREAUTH");
    });
    await withServer(transcript("preauth.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      expect(conn.authenticated).toBe(true);
      expect(conn.preauth).toBe(true);
      expect(conn.mechanism).toBeUndefined();
      await conn.close();
    });
  });

  it("reports a BYE greeting with its reply", async () => {
    await withServer(transcript("bye.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect(base(server.port)));
      expect(error.code).toBe("server-bye");
      expect(error.reply).toMatchObject({ status: "BYE", code: "UNAVAILABLE", text: "Too many connections" });
    });
  });

  it("reads literals in responses with readBytes", async () => {
    await withServer(transcript("literals.txt"), async (server) => {
      const conn = await ImapClient.connect(base(server.port));
      const r = await conn.command("FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
      expect(r.tagged.status).toBe("OK");
      const fetch = r.untagged[0]!;
      expect(fetch).toMatchObject({ type: "FETCH", number: 1 });
      const items = fetch.values[0] as unknown[];
      expect(items.slice(0, 3)).toEqual(["FLAGS", ["\\Seen"], "BODY[HEADER.FIELDS (SUBJECT)]"]);
      expect(Buffer.from(items[3] as Uint8Array).toString()).toBe("Subject: a {3} b\r\n\r\n");
      const list = r.untagged[1]!;
      expect(list.type).toBe("LIST");
      expect(list.values.slice(0, 2)).toEqual([["\\HasNoChildren"], "/"]);
      expect(Buffer.from(list.values[2] as Uint8Array).toString()).toBe('Sent "x"');
      await conn.close();
      await server.done();
    });
  });

  it("sends LOGIN credentials as a synchronizing literal when not ASCII, masked", async () => {
    const lines: TranscriptEntry[] = [];
    await withServer(transcript("login-literal.txt"), async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: { username: USER, password: "pässwörd-ü" }, login: "only", transcript: (e) => lines.push(e) });
      expect(conn.mechanism).toBeUndefined();
      expect(conn.login).toBe("LOGIN");
      await conn.close();
      await server.done();
    });
    const client = lines.filter((l) => l.direction === "C").map((l) => l.text);
    expect(client).toEqual(["A1 LOGIN ****", "****", "****"]);
  });

  it("refuses LOGIN in cleartext under policy never before sending anything", async () => {
    await withServer(transcript("login-literal.txt"), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), login: "only", policy: { cleartext: "never" } }));
      expect(error.code).toBe("policy-refused");
      expect(server.received).toEqual([]);
    });
  });

  it("sends an initial response that does not fit the line after an empty +", async () => {
    await withServer(transcript("long-ir.txt"), async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: { username: USER, password: "x".repeat(9000) } });
      expect(conn.mechanism).toBe("PLAIN");
      await conn.close();
      await server.done();
      expect(server.received[0]).toBe("A1 AUTHENTICATE PLAIN");
    });
  });
});

describe("IMAP bounds", () => {
  it("ends a stalled command at its deadline with a timeout ImapError", async () => {
    // The server never answers, so only the deadline can end the wait.
    await withServer("S: * OK ready\nC: A1 CAPABILITY\n!stall\n", async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), timeouts: { reply: 300 } }));
      expect(error.code).toBe("timeout");
      expect(error.phase).toBe("capability");
    });
  });

  it("refuses a response line longer than maxLineBytes", async () => {
    await withServer(`S: * OK [CAPABILITY IMAP4rev1 ${"X".repeat(2000)}] ready\n`, async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), maxLineBytes: 1024 }));
      expect(error.code).toBe("line-too-long");
      expect(error.phase).toBe("greeting");
    });
  });

  it("refuses a literal that takes one response over limits.responseBytes", async () => {
    await withServer("S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\nC: A1 AUTHENTICATE PLAIN *\nS: A1 OK [CAPABILITY IMAP4rev1] ok\nC: A2 FETCH 1 BODY[]\nS: * 1 FETCH (BODY[] {99999}\n!stall\n", async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), limits: { responseBytes: 1000 } });
      const error = await expectImapError(conn.command("FETCH 1 BODY[]"));
      expect(error.code).toBe("response-too-large");
      await conn.close();
    });
  });
});

describe("IMAP LOGIN fallback limits (issue 13 item 4)", () => {
  it("the LOGIN fallback counts against maxAttempts", async () => {
    await withServer(transcript("bad-then-login.txt").replace(/C: A2 LOGIN[\s\S]*$/, ""), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), maxAttempts: 1 }));
      expect(error.code).toBe("mechanism-rejected");
      expect(error.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["PLAIN"]);
      expect(error.negotiation?.login).toBeUndefined();
      await server.done();
      expect(server.received).toEqual(["A1 AUTHENTICATE PLAIN"]);
    });
  });

  it("fallback: false keeps LOGIN out after a mechanism-level failure", async () => {
    await withServer(transcript("bad-then-login.txt").replace(/C: A2 LOGIN[\s\S]*$/, ""), async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), fallback: false }));
      expect(error.code).toBe("mechanism-rejected");
      expect(server.received).toEqual(["A1 AUTHENTICATE PLAIN"]);
    });
  });
});

describe("IMAP options are checked at run time (issue 10 item 7)", () => {
  it.each([
    [{ tls: "STARTTLS" }, "tls"],
    [{ tls: "implict" }, "tls"],
    [{ secure: true }, "secure"],
    [{ requireTLS: true }, "requireTLS"],
    [{ auth: { user: "a", pass: "b" } }, "auth.user"],
    [{ tls: { rejectUnauthorized: false } }, "tls"],
    [{ timeouts: { auth: 5 } }, "timeouts.auth"],
    [{ login: "LOGIN" }, "login"],
  ])("%j is an invalid-option error naming %s, before any connection", async (extra, option) => {
    await withServer("S: * OK never reached\n", async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), ...(extra as object) } as ImapConnectOptions));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(error.message).toContain(`"${option}"`);
      expect(error.message).not.toContain(PASSWORD);
    });
  });
});

describe("IMAP TLS default follows core's cleartext rule (lead decision 09:32)", () => {
  const noStarttls = "S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\n";
  it("no STARTTLS, credentials, policy.cleartext never: tls-required before any mechanism, even on loopback", async () => {
    await withServer(noStarttls, async (server) => {
      const { tls: _none, ...options } = base(server.port);
      const error = await expectImapError(ImapClient.connect({ ...options, policy: { cleartext: "never" } }));
      expect(error.code).toBe("tls-required");
      expect(error.phase).toBe("starttls");
      expect(server.received).toEqual([]);
    });
  });

  it("no STARTTLS, credentials, loopback and the default policy: continues and authenticates", async () => {
    await withServer(`${noStarttls}C: A1 AUTHENTICATE PLAIN ${PLAIN_B64}\nS: A1 OK [CAPABILITY IMAP4rev1] in\n`, async (server) => {
      const { tls: _none, ...options } = base(server.port);
      const conn = await ImapClient.connect(options);
      expect(conn.secure).toBe(false);
      expect(conn.mechanism).toBe("PLAIN");
      await conn.close();
      await server.done();
    });
  });
});

describe("IMAP LOGIN with the SASLprep opt-in (issue 13 item 7)", () => {
  it('prepare: "saslprep" maps the password before LOGIN (U+00AD disappears); without it, it goes as given', async () => {
    await withServer('S: * OK [CAPABILITY IMAP4rev1] ready\nC: A1 LOGIN "alice" "Pa55-word!"\nS: A1 OK [CAPABILITY IMAP4rev1] in\n', async (server) => {
      const conn = await ImapClient.connect({ ...base(server.port), auth: { username: USER, password: "Pa55\u00AD-word!" }, login: "only", prepare: "saslprep" });
      expect(conn.login).toBe("LOGIN");
      await conn.close();
      await server.done();
    });
  });

  it("a password SASLprep refuses is an invalid-credentials-input error, nothing sent", async () => {
    await withServer("S: * OK [CAPABILITY IMAP4rev1] ready\n", async (server) => {
      const error = await expectImapError(ImapClient.connect({ ...base(server.port), auth: { username: USER, password: "bad\u0007bell" }, login: "only", prepare: "saslprep" }));
      expect(error.code).toBe("invalid-credentials-input");
      expect(error.message).not.toContain("bell");
      expect(server.received).toEqual([]);
    });
  });
});
