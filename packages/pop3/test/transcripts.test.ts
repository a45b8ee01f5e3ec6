/**
 * POP3 adapter against recorded transcripts replayed by a real loopback server.
 */
import { SaslError } from "@saslkit/core";
import { type TranscriptEntry } from "@saslkit/transport";
import { testCertificates } from "@saslkit/test-kit";
import { describe, expect, it } from "vitest";
import { Pop3Client, Pop3Error, type Pop3ConnectOptions } from "../src/index.js";
import { PASSWORD, PLAIN_B64, USER, fakeEcho, fakeMutual, fakePlain, transcript, withServer, base, expectPop3Error } from "./helpers.js";



describe("POP3 transcripts", () => {
  it("reads CAPA, authenticates with the IR on the AUTH line, runs STAT and a multi-line LIST, quits", async () => {
    const lines: TranscriptEntry[] = [];
    await withServer(transcript("capa-auth-stat.txt"), async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), transcript: (e) => lines.push(e) });
      expect(conn.mechanism).toBe("PLAIN");
      expect(conn.capabilities.mechanisms).toEqual(["PLAIN", "LOGIN", "XOAUTH"]);
      expect(conn.capabilities.user).toBe(true);
      expect(await conn.command("STAT")).toEqual({ ok: true, text: "2 320", raw: "+OK 2 320" });
      const list = await conn.command("LIST", { multiline: true });
      expect(list.lines).toEqual(["1 120", ".2 200"]);
      expect((await conn.quit())?.ok).toBe(true);
      expect(conn.closed).toBe(true);
      await server.done();
    });
    expect(lines.filter((l) => l.direction === "C").map((l) => l.text)).toEqual(["CAPA", "AUTH PLAIN ****", "STAT", "LIST", "QUIT"]);
  });

  it("sends an initial response that would pass 255 octets after an empty +", async () => {
    await withServer(transcript("long-ir.txt"), async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), auth: { username: USER, password: "x".repeat(300) } });
      expect(conn.authenticated).toBe(true);
      await conn.close();
      await server.done();
      expect(server.received[1]).toBe("AUTH PLAIN");
    });
  });

  it("maps -ERR [AUTH] to authentication-failed and keeps the SaslError as cause, secrets masked", async () => {
    await withServer(transcript("err-auth.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect(base(server.port)));
      expect(error.code).toBe("authentication-failed");
      expect(error.reply).toEqual({ status: "-ERR", code: "AUTH", text: "Authentication failed.", raw: "-ERR [AUTH] Authentication failed." });
      expect(error.command).toBe("AUTH PLAIN ****");
      expect(error.cause).toBeInstanceOf(SaslError);
      const text = [error.message, error.command, (error.cause as Error).message].join("\n");
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(PLAIN_B64);
      await server.done();
    });
  });

  it("maps -ERR [SYS/TEMP] to temporary-failure", async () => {
    await withServer(transcript("err-sys-temp.txt"), async (server) => {
      expect((await expectPop3Error(Pop3Client.connect(base(server.port)))).code).toBe("temporary-failure");
      await server.done();
    });
  });

  it("falls back after a code-less -ERR to the mechanism itself", async () => {
    await withServer(transcript("err-fallback.txt"), async (server) => {
      const conn = await Pop3Client.connect(base(server.port, [fakePlain, fakeMutual]));
      expect(conn.mechanism).toBe("PLAIN");
      await conn.close();
      await server.done();
    });
  });

  it("discards capabilities after STLS and asks again; answers success data sent as a challenge", async () => {
    const certs = await testCertificates();
    await withServer(
      transcript("stls.txt"),
      async (server) => {
        const conn = await Pop3Client.connect({ ...base(server.port, [fakePlain, fakeMutual]), tls: "starttls", tlsOptions: { ca: certs.ca, servername: "localhost" } });
        expect(conn.secure).toBe(true);
        expect(conn.capabilities.stls).toBe(false);
        expect(conn.mechanism).toBe("X-MUTUAL");
        await conn.close();
        await server.done();
      },
      { tls: { key: certs.key, cert: certs.cert } },
    );
  });

  it("fails closed without STLS when TLS is required, sending nothing more", async () => {
    await withServer(transcript("err-auth.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), tls: "starttls" }));
      expect(error.code).toBe("tls-required");
      expect(server.received).toEqual(["CAPA"]);
    });
  });

  it("cancels a server looping on + and reports too-many-rounds", async () => {
    await withServer(transcript("loop.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port, [fakeEcho]), maxRounds: 2 }));
      expect(error.code).toBe("too-many-rounds");
      await server.done();
    });
  });

  it("reports a dropped connection as closed", async () => {
    await withServer(transcript("dropped.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect(base(server.port)));
      expect(error.code).toBe("closed");
      expect(error.phase).toBe("authenticate");
      await server.done();
    });
  });

  it("uses USER/PASS only when asked, masking PASS", async () => {
    const lines: TranscriptEntry[] = [];
    await withServer(transcript("user-pass.txt"), async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), login: "user", transcript: (e) => lines.push(e) });
      expect(conn.mechanism).toBeUndefined();
      expect(conn.login).toBe("USER");
      expect(conn.negotiation?.login).toEqual({ command: "USER", ok: true });
      await conn.close();
      await server.done();
    });
    expect(lines.filter((l) => l.direction === "C").map((l) => l.text)).toEqual(["CAPA", "USER alice", "PASS ****"]);
  });

  it("refuses USER/PASS in cleartext under policy never before sending it", async () => {
    await withServer(transcript("user-pass.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), login: "user", policy: { cleartext: "never" } }));
      expect(error.code).toBe("policy-refused");
      expect(server.received).toEqual(["CAPA"]);
    });
  });

  it("computes APOP as RFC 1939 §7 shows", async () => {
    await withServer(transcript("apop.txt"), async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), login: "apop", auth: { username: "mrose", password: "tanstaaf" } });
      expect(conn.mechanism).toBeUndefined();
      expect(conn.login).toBe("APOP");
      await conn.close();
      await server.done();
    });
  });

  it("reports an -ERR greeting", async () => {
    await withServer(transcript("greeting-err.txt"), async (server) => {
      const error = await expectPop3Error(Pop3Client.connect(base(server.port)));
      expect(error.code).toBe("server-rejected");
      expect(error.reply?.code).toBe("SYS/TEMP");
    });
  });
});

describe("POP3 bounds", () => {
  it("ends a stalled command at its deadline with a timeout Pop3Error", async () => {
    // The server never answers CAPA, so only the deadline can end the wait.
    await withServer("S: +OK ready\nC: CAPA\n!stall\n", async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), timeouts: { reply: 300 } }));
      expect(error.code).toBe("timeout");
      expect(error.phase).toBe("capability");
    });
  });

  it("refuses a line longer than maxLineBytes", async () => {
    await withServer(`S: +OK ${"x".repeat(2000)}\n`, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), maxLineBytes: 512 }));
      expect(error.code).toBe("line-too-long");
    });
  });
});

describe("POP3 USER/PASS through negotiation (issue 13 item 3)", () => {
  const noSasl = "S: +OK ready\nC: CAPA\nS: +OK\nS: USER\nS: .\n";

  it("falls back to USER/PASS when the server advertises USER and no SASL mechanism", async () => {
    await withServer(`${noSasl}C: USER alice\nS: +OK\nC: PASS Pa55-word!\nS: +OK in\n`, async (server) => {
      const conn = await Pop3Client.connect(base(server.port));
      expect(conn.login).toBe("USER");
      expect(conn.mechanism).toBeUndefined();
      expect(conn.negotiation).toMatchObject({ offered: [], candidates: [], chosen: undefined, login: { command: "USER", ok: true } });
      await conn.close();
      await server.done();
    });
  });

  it("falls back to USER/PASS when the server answers no CAPA (plain RFC 1939)", async () => {
    await withServer(transcript("user-pass.txt"), async (server) => {
      const conn = await Pop3Client.connect(base(server.port));
      expect(conn.login).toBe("USER");
      await conn.close();
      await server.done();
    });
  });

  it("never sends USER when CAPA works but does not advertise it, through negotiation or forced", async () => {
    const script = "S: +OK ready\nC: CAPA\nS: +OK\nS: TOP\nS: .\n";
    await withServer(script, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect(base(server.port)));
      expect(error.code).toBe("no-mechanism");
      expect(error.message).toMatch(/USER command was not used: the server's CAPA does not advertise USER/);
      expect(server.received).toEqual(["CAPA"]);
    });
    await withServer(script, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), login: "user" }));
      expect(error.code).toBe("login-disabled");
      expect(error.login).toBe("USER");
      expect(server.received).toEqual(["CAPA"]);
    });
  });

  it("only where the cleartext rule allows it: policy never refuses the fallback before USER is sent", async () => {
    await withServer(noSasl, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), policy: { cleartext: "never" } }));
      expect(error.code).toBe("no-mechanism");
      expect(error.message).toMatch(/USER sends the password in clear/);
      expect(server.received).toEqual(["CAPA"]);
    });
  });

  it("login: never keeps SASL only", async () => {
    await withServer(noSasl, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), login: "never" }));
      expect(error.code).toBe("no-mechanism");
      expect(server.received).toEqual(["CAPA"]);
    });
  });
});

describe("POP3: no fallback after credentials were sent (issue 13 item 4)", () => {
  it("an -ERR to AUTH PLAIN with the password in the initial response ends the attempt: no USER/PASS", async () => {
    await withServer(`S: +OK ready\nC: CAPA\nS: +OK\nS: SASL PLAIN\nS: USER\nS: .\nC: AUTH PLAIN ${PLAIN_B64}\nS: -ERR no\n`, async (server) => {
      const error = await expectPop3Error(Pop3Client.connect(base(server.port)));
      expect(error.code).toBe("authentication-failed");
      expect(error.mechanism).toBe("PLAIN");
      expect(error.negotiation?.login).toBeUndefined();
      await server.done();
      expect(server.received).toEqual(["CAPA", `AUTH PLAIN ${PLAIN_B64}`]);
    });
  });

  it("the USER/PASS fallback counts against maxAttempts", async () => {
    await withServer("S: +OK ready\nC: CAPA\nS: +OK\nS: SASL X-MUTUAL\nS: USER\nS: .\nC: AUTH X-MUTUAL aGVsbG8=\nS: -ERR unsupported\n", async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port, [fakeMutual]), maxAttempts: 1 }));
      expect(error.code).toBe("mechanism-rejected");
      expect(error.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["X-MUTUAL"]);
      await server.done();
      expect(server.received).not.toContain("USER alice");
    });
  });
});

describe("POP3 options are checked at run time (issue 10 item 7)", () => {
  it.each([
    [{ tls: "STLS" }, "tls"],
    [{ secure: true }, "secure"],
    [{ auth: { username: USER, pass: PASSWORD } }, "auth.pass"],
    [{ login: "USER" }, "login"],
    [{ maxMultilineBytes: 10 }, "maxMultilineBytes"],
    [{ limits: { responseBytes: 0 } }, "limits.responseBytes"],
    [{ channelBinding: "tls-finished" }, "channelBinding"],
  ])("%j is an invalid-option error naming %s, before any connection", async (extra, option) => {
    await withServer("S: +OK never reached\n", async (server) => {
      const error = await expectPop3Error(Pop3Client.connect({ ...base(server.port), ...(extra as object) } as Pop3ConnectOptions));
      expect(error.code).toBe("invalid-option");
      expect(error.option).toBe(option);
      expect(error.phase).toBe("connect");
      expect(error.message).not.toContain(PASSWORD);
    });
  });
});

describe("POP3 USER/PASS and APOP with the SASLprep opt-in (issue 13 item 7)", () => {
  it('prepare: "saslprep" maps the password before PASS', async () => {
    await withServer("S: +OK ready\nC: CAPA\nS: -ERR no\nC: USER alice\nS: +OK\nC: PASS Pa55-word!\nS: +OK in\n", async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), auth: { username: USER, password: "Pa55\u00AD-word!" }, login: "user", prepare: "saslprep" });
      expect(conn.login).toBe("USER");
      await conn.close();
      await server.done();
    });
  });

  it('prepare: "saslprep" prepares the APOP password before the digest (RFC 1939 §7 example with U+00AD inserted)', async () => {
    await withServer(transcript("apop.txt"), async (server) => {
      const conn = await Pop3Client.connect({ ...base(server.port), login: "apop", auth: { username: "mrose", password: "tans\u00ADtaaf" }, prepare: "saslprep" });
      expect(conn.login).toBe("APOP");
      await conn.close();
      await server.done();
    });
  });
});
