/**
 * Credential leaks (issue 6): every mechanism through the SMTP adapter against the embedded
 * smtp-server (success and wrong secret), and the SMTP, IMAP and POP3 adapters against a hostile
 * server that forces an error in every phase, all with transcripts on. Everything produced
 * (client and server transcripts, error messages and properties, `util.inspect` of errors, results
 * and clients) is searched for the password and the token, the wrong ones tried too, and their
 * base64 (at every alignment) and hex forms: zero hits.
 */
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SmtpClient, SmtpError, sendMail, type SmtpClientOptions } from "@saslkit/smtp";
import { SmtpServer } from "@saslkit/smtp-server";
import { ImapClient } from "@saslkit/imap";
import { Pop3Client } from "@saslkit/pop3";
import { plain } from "@saslkit/mech-plain";
import { login } from "@saslkit/mech-login";
import { type TranscriptEntry } from "@saslkit/transport";
import { testCertificates } from "@saslkit/test-kit";
import { ALL_PROVIDERS, CALLBACKS, SCRAM_TEST_OPTIONS, USER } from "./hardening/mechanisms.js";
import { PASSWORD, TOKEN, findSecrets, renderError, secretForms } from "./hardening/secrets.js";
import { imapResponder, pop3Responder, smtpResponder, startHostileServer, type Fault, type Responder } from "./hardening/hostile-server.js";

const WRONG_PASSWORD = "Wrong-9a8b7c6d-Password?";
const WRONG_TOKEN = "ya29.wrong-0f1e2d3c4b5a-Token";
const FORMS = [...new Set([PASSWORD, TOKEN, WRONG_PASSWORD, WRONG_TOKEN].flatMap(secretForms))];

/** Everything one run produced, as text to search. */
class Evidence {
  readonly parts: string[] = [];
  sink = (entry: TranscriptEntry) => this.parts.push(`${entry.direction} ${entry.text}`);
  add(label: string, value: unknown): void {
    this.parts.push(label, value instanceof Error ? renderError(value) : inspect(value, { depth: 6, showHidden: true, getters: true }));
  }
  assertClean(): void {
    const text = this.parts.join("\n");
    expect(text.length).toBeGreaterThan(0);
    const hits = findSecrets(text, FORMS);
    // On failure, show where: the lines holding a secret form (the forms are test-only values).
    const where = hits.length ? text.split("\n").filter((l) => hits.some((h) => l.includes(h))).slice(0, 5) : [];
    expect({ hits, where }).toEqual({ hits: [], where: [] });
  }
}

it("the search itself finds a secret hidden in a base64 AUTH line and in hex (the oracle can fail)", () => {
  const line = `AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64")}`;
  expect(findSecrets(line, FORMS)).not.toEqual([]);
  expect(findSecrets(`x=${Buffer.from(`user=${USER}\x01auth=Bearer ${TOKEN}\x01\x01`).toString("base64")}`, FORMS)).not.toEqual([]);
  expect(findSecrets(Buffer.from(PASSWORD).toString("hex").toUpperCase(), FORMS)).not.toEqual([]);
});

describe("leaks: every mechanism through SMTP against the embedded smtp-server", () => {
  let server: SmtpServer;
  const serverLog: string[] = [];
  let ca: string;
  beforeAll(async () => {
    const certs = await testCertificates();
    ca = certs.ca;
    server = await SmtpServer.start({
      hostname: "localhost",
      mechanisms: ALL_PROVIDERS,
      callbacks: CALLBACKS,
      mechanismOptions: SCRAM_TEST_OPTIONS,
      tls: { key: certs.key, cert: certs.cert },
      requireTls: true,
      maxAuthFailures: 100,
      transcript: (e) => serverLog.push(`${e.direction} ${e.text}`),
    });
  });
  afterAll(() => server.close());

  const mechanisms = ALL_PROVIDERS.filter((p) => !["EXTERNAL", "ANONYMOUS"].includes(p.name)).map((p) => p.name);
  const options = (mechanism: string, good: boolean, evidence: Evidence): SmtpClientOptions => ({
    host: "127.0.0.1",
    port: server.port,
    tls: "starttls",
    tlsOptions: { ca, servername: "localhost" },
    ehloName: "client.test",
    auth: { username: USER, password: good ? PASSWORD : WRONG_PASSWORD, token: good ? TOKEN : WRONG_TOKEN },
    mechanisms: ALL_PROVIDERS,
    mechanismOptions: SCRAM_TEST_OPTIONS,
    policy: { force: mechanism },
    timeouts: { connect: 2000, reply: 2000, data: 2000 },
    transcript: evidence.sink,
  });

  for (const mechanism of mechanisms) {
    it(`${mechanism}: success, then a wrong secret: nothing printable holds a secret`, async () => {
      const evidence = new Evidence();
      const client = await SmtpClient.connect(options(mechanism, true, evidence));
      expect(client.authenticatedWith).toBe(mechanism);
      evidence.add("client", client);
      evidence.add("negotiation", client.negotiation);
      evidence.add("result", await client.send("Subject: x\r\n\r\nhello\r\n", { from: "a@test", to: ["b@test"] }));
      await client.quit();

      const error = await sendMail(options(mechanism, false, evidence), "Subject: x\r\n\r\nx\r\n", { from: "a@test", to: ["b@test"] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SmtpError);
      expect((error as SmtpError).phase).toBe("authenticate");
      evidence.add("error", error);
      evidence.parts.push(...serverLog);
      evidence.assertClean();
    });
  }
});

type Adapter = "smtp" | "imap" | "pop3";
const PHASES: Record<Adapter, readonly string[]> = {
  smtp: ["greeting", "ehlo", "auth", "auth-round", "mail", "rcpt", "data", "body", "final", "quit"],
  imap: ["greeting", "capability", "auth", "auth-round", "logout"],
  pop3: ["greeting", "capa", "auth", "auth-round", "quit"],
};

async function attempt(adapter: Adapter, mechanism: string, fault: Fault, evidence: Evidence): Promise<void> {
  const responders: Record<Adapter, Responder> = {
    smtp: smtpResponder(),
    imap: imapResponder({ caps: "IMAP4rev1 AUTH=PLAIN AUTH=LOGIN" }),
    pop3: pop3Responder(),
  };
  const server = await startHostileServer(responders[adapter], { fault });
  const common = {
    host: "127.0.0.1",
    port: server.port,
    tls: "none" as const,
    auth: { username: USER, password: PASSWORD },
    mechanisms: [plain, login],
    policy: { force: mechanism },
    transcript: evidence.sink,
  };
  try {
    if (adapter === "smtp") {
      evidence.add("result", await sendMail({ ...common, ehloName: "c.test", timeouts: { reply: 300, data: 300 } }, "Subject: x\r\n\r\nx\r\n", { from: "a@test", to: ["b@test"] }));
    } else if (adapter === "imap") {
      const c = await ImapClient.connect({ ...common, login: "never", timeouts: { reply: 300 } });
      evidence.add("client", c);
      await c.logout();
    } else {
      const c = await Pop3Client.connect({ ...common, timeouts: { reply: 300 } });
      evidence.add("client", c);
      await c.quit();
    }
  } catch (error) {
    evidence.add("error", error);
  } finally {
    // On the wire the secret belongs only in AUTH lines and SASL responses; any other client line must be clean.
    evidence.parts.push(...server.received.filter((l) => !/^(AUTH .*|\S+ AUTHENTICATE .*|[A-Za-z0-9+/=]+)$/i.test(l)).map((l) => `server-saw-non-auth ${l}`));
    await server.close();
  }
}

describe("leaks: errors forced in every phase, every adapter, transcripts on", () => {
  for (const adapter of ["smtp", "imap", "pop3"] as const) {
    for (const mechanism of ["PLAIN", "LOGIN"]) {
      it(`${adapter} ${mechanism}: close, garbage, wrong code and loop in every phase leave no secret in transcripts or errors`, async () => {
        const evidence = new Evidence();
        for (const phase of PHASES[adapter]) {
          for (const action of ["close", "garbage", "wrong-code", "loop"] as const) {
            await attempt(adapter, mechanism, { phase, action }, evidence);
          }
        }
        evidence.assertClean();
      });
    }
  }
});
