/**
 * Echo tests (one redaction seam): a hostile SMTP server on 127.0.0.1 echoes what the client
 * sent during AUTH (the base64 payload line, the decoded payload, the raw password or token)
 * back in a well-formed failure, in a line that is not an SMTP reply, and in the continuation
 * line of a multi-line reply, for every mechanism that carries a secret. Nothing secret may
 * appear anywhere: transcript, error message, stack, reply, command, cause chain, negotiation.
 */
import { Buffer } from "node:buffer";
import { inspect } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { SmtpClient, SmtpError, type TranscriptEntry } from "@saslkit/smtp";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { testCertificates } from "@saslkit/test-kit";
import { login } from "@saslkit/mech-login";
import { oauthBearer, xoauth2 } from "@saslkit/mech-oauth";
import { plain } from "@saslkit/mech-plain";
import { scramProviders } from "@saslkit/mech-scram";
import type { MechanismProvider } from "@saslkit/core";
import { startHostileServer, type Conn, type HostileServer } from "./hardening/hostile-server.js";
import { SCRAM_TEST_OPTIONS, USER } from "./hardening/mechanisms.js";
import { PASSWORD, TOKEN, findSecrets, renderError, secretForms } from "./hardening/secrets.js";

type Placement = "failure" | "malformed" | "continuation";
type Echo = "payload line" | "decoded payload" | "raw secret";

const scram = (name: string) => scramProviders.find((p) => p.name === name)!;
/** Every mechanism whose messages carry a secret or a proof of one (EXTERNAL and ANONYMOUS carry none). */
const MECHANISMS: readonly MechanismProvider[] = [
  plain,
  login,
  cramMd5,
  digestMd5,
  scram("SCRAM-SHA-1"),
  scram("SCRAM-SHA-256"),
  scram("SCRAM-SHA-1-PLUS"),
  scram("SCRAM-SHA-256-PLUS"),
  oauthBearer,
  xoauth2,
];
/** -PLUS needs TLS: those run over STARTTLS. */
const overTls = (name: string) => name.endsWith("-PLUS");
const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64");

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/**
 * Drives the mechanism honestly until the client sends the message that carries its secret (or
 * its proof), then echoes it as `echo` in `placement`.
 */
function responder(mechanism: string, placement: Placement, echo: Echo, tls: boolean) {
  const secret = mechanism === "OAUTHBEARER" || mechanism === "XOAUTH2" ? TOKEN : PASSWORD;
  const answer = (conn: Conn, payload: string) => {
    const text = echo === "payload line" ? payload : echo === "decoded payload" ? Buffer.from(payload, "base64").toString("latin1") : secret;
    if (placement === "failure") conn.send(`535 5.7.8 credentials rejected: ${text}`);
    else if (placement === "malformed") conn.send(`you sent ${text}`);
    else conn.send(`535-you sent ${text}\r\n535 5.7.8 credentials rejected`);
  };
  return {
    greet: (c: Conn) => c.send("220 mx.hostile.test ESMTP"),
    line: (c: Conn, line: string) => {
      if (/^EHLO /i.test(line)) {
        if (tls && !c.state["tls"]) return c.send("250-mx.hostile.test\r\n250 STARTTLS");
        return c.send(`250-mx.hostile.test\r\n250 AUTH ${mechanism}`);
      }
      if (/^STARTTLS/i.test(line)) {
        c.state["tls"] = true;
        c.send("220 go ahead");
        return c.startTls();
      }
      if (/^QUIT/i.test(line)) return c.send("221 bye");
      if (line === "*") return c.send("501 5.7.0 cancelled");
      const auth = /^AUTH (\S+)(?: (\S+))?$/i.exec(line);
      const payload = auth ? auth[2] : line;
      const step = (c.state["step"] as number | undefined) ?? 0;
      c.state["step"] = step + 1;
      switch (mechanism) {
        case "PLAIN":
        case "OAUTHBEARER":
        case "XOAUTH2":
          return payload ? answer(c, payload) : c.send("334 ");
        case "LOGIN":
          if (payload && Buffer.from(payload, "base64").toString() === PASSWORD) return answer(c, payload);
          return c.send(payload ? "334 UGFzc3dvcmQ6" : "334 VXNlcm5hbWU6");
        case "CRAM-MD5":
          return auth ? c.send(`334 ${b64("<1896.697170952@mx.hostile.test>")}`) : answer(c, payload!);
        case "DIGEST-MD5":
          return auth ? c.send(`334 ${b64('realm="hostile.test",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess')}`) : answer(c, payload!);
        default: {
          // SCRAM: a valid server-first for the client's nonce, then echo the client-final (proof).
          if (auth) {
            const first = Buffer.from(payload!, "base64").toString();
            const nonce = /r=([^,]+)/.exec(first)![1];
            return c.send(`334 ${b64(`r=${nonce}srv0e7a,s=${b64("salt-salt-salt")},i=16`)}`);
          }
          return answer(c, payload!);
        }
      }
    },
  };
}

describe("a server echoing what AUTH sent leaks nothing, anywhere", () => {
  for (const provider of MECHANISMS) {
    for (const placement of ["failure", "malformed", "continuation"] as const) {
      for (const echo of ["payload line", "decoded payload", "raw secret"] as const) {
        it(`${provider.name}: ${echo} echoed in a ${placement === "failure" ? "well-formed failure" : placement === "malformed" ? "malformed line" : "continuation line"}`, async () => {
          const tls = overTls(provider.name);
          const certs = await testCertificates();
          server = await startHostileServer(responder(provider.name, placement, echo, tls), tls ? { tls: { key: certs.key, cert: certs.cert } } : {});
          const transcript: TranscriptEntry[] = [];
          const error = await SmtpClient.connect({
            host: "127.0.0.1",
            port: server.port,
            ...(tls ? { tls: "starttls" as const, tlsOptions: { ca: certs.ca } } : { tls: "none" as const }),
            ehloName: "client.hostile.test",
            auth: { username: USER, password: PASSWORD, token: TOKEN },
            mechanisms: [provider],
            mechanismOptions: SCRAM_TEST_OPTIONS,
            policy: { force: provider.name, cleartext: "allow" },
            timeouts: { connect: 5000, reply: 2000 },
            transcript: (entry) => transcript.push(entry),
          }).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(SmtpError);
          const failure = error as SmtpError;
          expect(failure.phase).toBe("authenticate");
          // The exchange really carried the secret (or a proof of it) and the server echoed it back.
          const sent = server.received.filter((l) => !/^(EHLO|QUIT|STARTTLS|\*)/i.test(l));
          expect(sent.length).toBeGreaterThan(0);
          // Every payload the client sent, each secret in every encoding: nowhere.
          const payloads = sent.map((l) => l.replace(/^AUTH \S+ ?/i, "")).filter((p) => p.length >= 4);
          const forms = [...secretForms(PASSWORD), ...secretForms(TOKEN), ...payloads, ...payloads.map((p) => Buffer.from(p, "base64").toString("latin1")).filter((d) => d.length >= 4)];
          const everything = [
            renderError(failure),
            inspect(failure.reply, { depth: null }),
            String(failure.command),
            JSON.stringify(failure.negotiation),
            inspect(failure.negotiation, { depth: null }),
            JSON.stringify(transcript),
          ].join("\n");
          expect(findSecrets(everything, forms)).toEqual([]);
          // ...and the echo did arrive: masked where the server put it.
          const shown = placement === "malformed" ? failure.message : (failure.reply?.lines ?? []).join("\n");
          expect(placement === "malformed" ? failure.code : failure.reply?.code).toBe(placement === "malformed" ? "malformed-reply" : 535);
          expect(shown).toContain("****");
        });
      }
    }
  }
});

describe("after AUTH, a server echoing the password in later replies", () => {
  it("leaks nothing through the send result, a refused recipient or the transcript", async () => {
    server = await startHostileServer({
      greet: (c) => c.send("220 mx.hostile.test ESMTP"),
      line: (c, line) => {
        if (/^EHLO /i.test(line)) return c.send("250-mx.hostile.test\r\n250 AUTH PLAIN");
        if (/^AUTH PLAIN /i.test(line)) return c.send("235 2.7.0 welcome");
        if (/^MAIL/i.test(line)) return c.send(`250 sender ok, your password is ${PASSWORD}`);
        if (/^RCPT TO:<no@/i.test(line)) return c.send(`550-5.1.1 unknown, but I know ${b64(PASSWORD)}\r\n550 5.1.1 rejected`);
        if (/^RCPT/i.test(line)) return c.send("250 ok");
        if (/^DATA/i.test(line)) return c.send("354 go");
        if (line === ".") return c.send(`250 2.0.0 queued as Q1 (${PASSWORD})`);
        if (/^QUIT/i.test(line)) return c.send("221 bye");
      },
    });
    const transcript: TranscriptEntry[] = [];
    const client = await SmtpClient.connect({
      host: "127.0.0.1",
      port: server.port,
      tls: "none",
      ehloName: "client.hostile.test",
      auth: { username: USER, password: PASSWORD },
      mechanisms: [plain],
      policy: { cleartext: "allow" },
      transcript: (entry) => transcript.push(entry),
    });
    const result = await client.send("Subject: x\r\n\r\nx\r\n", { from: "a@hostile.test", to: ["yes@hostile.test", "no@hostile.test"] });
    await client.quit();
    expect(result.reply.text).toContain("****");
    expect(result.rejected[0]!.reply.lines[0]).toContain("****");
    expect(result.queueId).toBe("Q1");
    // The result redacts its reply when first read; printed or serialised it still shows every field.
    expect(JSON.parse(JSON.stringify(result))).toMatchObject({ queueId: "Q1", reply: { code: 250 }, accepted: ["yes@hostile.test"], bytes: expect.any(Number) });
    expect(inspect(result, { depth: null })).toMatch(/reply: \{[\s\S]*code: 250[\s\S]*queueId: 'Q1'/);
    expect(findSecrets([inspect(result, { depth: null }), JSON.stringify(result), JSON.stringify(transcript)].join("\n"), secretForms(PASSWORD))).toEqual([]);
  });
});
