/**
 * Echo tests for IMAP and POP3 (issue 9 item 3): a server sends back what the client's secret
 * message carried (its base64 and its decoded text) in a well-formed failure, in a malformed
 * line, in an untagged line and in a continuation request, for every mechanism that carries a
 * secret (or a value derived from it) and for IMAP LOGIN, POP3 USER/PASS and APOP. Nothing the
 * client produces may hold the secret in any form: transcript, error message, reply, command,
 * stack, cause chain, the negotiation record, nor the exact base64 of any payload it sent.
 */
import { describe, expect, it } from "vitest";
import { ImapClient } from "@saslkit/imap";
import { Pop3Client } from "@saslkit/pop3";
import { ECHO_PLACES, apopDigest, startEchoServer, type EchoPlace } from "./hardening/echo-server.js";
import { Evidence } from "./hardening/leak-sweep.js";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { ALL_PROVIDERS as HARDENING_PROVIDERS, SCRAM_TEST_OPTIONS, USER } from "./hardening/mechanisms.js";

const ALL_PROVIDERS = [...HARDENING_PROVIDERS, digestMd5];
import { PASSWORD, TOKEN, secretForms } from "./hardening/secrets.js";

/** Every mechanism that carries the secret or a value derived from it, without TLS. */
const MECHANISMS = ALL_PROVIDERS.map((p) => p.name).filter((n) => !n.endsWith("-PLUS") && n !== "EXTERNAL" && n !== "ANONYMOUS");
const TOKEN_MECHANISMS = new Set(["OAUTHBEARER", "XOAUTH2"]);

interface Run {
  readonly protocol: "imap" | "pop3";
  readonly place: EchoPlace;
  readonly mechanism?: string;
  readonly login?: "LOGIN" | "USER" | "APOP";
}

async function run({ protocol, place, mechanism, login }: Run): Promise<void> {
  const server = await startEchoServer({ protocol, place, ...(mechanism ? { mechanism } : {}), secrets: [PASSWORD, TOKEN] });
  const evidence = new Evidence([]);
  const auth = mechanism && TOKEN_MECHANISMS.has(mechanism) ? { username: USER, token: TOKEN } : { username: USER, password: PASSWORD };
  const common = {
    host: "127.0.0.1",
    port: server.port,
    tls: "none" as const,
    auth,
    mechanisms: ALL_PROVIDERS,
    mechanismOptions: SCRAM_TEST_OPTIONS,
    policy: { ...(mechanism ? { force: mechanism } : {}), cleartext: "allow" as const },
    timeouts: { connect: 5000, reply: 2000 },
    transcript: evidence.sink,
  };
  let outcome: unknown;
  try {
    if (protocol === "imap") {
      outcome = await ImapClient.connect({ ...common, login: login === "LOGIN" ? "only" : "never" });
    } else {
      outcome = await Pop3Client.connect({ ...common, login: login === "USER" ? "user" : login === "APOP" ? "apop" : "never" });
    }
  } catch (error) {
    outcome = error;
  } finally {
    await server.close();
  }
  // The server refused every time: a connection would mean the echo was taken for success.
  expect(outcome).toBeInstanceOf(Error);
  evidence.add("outcome", outcome);
  // What must not appear: every form of both secrets, the exact base64 of every payload the client
  // sent (and the LOGIN/PASS/APOP arguments, APOP's digest among them).
  const forms = [...secretForms(PASSWORD), ...secretForms(TOKEN), ...server.payloads.filter((p) => p.length >= 8), ...server.loginArguments.filter((a) => a.length >= 8)];
  if (login === "APOP") forms.push(apopDigest(PASSWORD));
  expect(server.payloads.length + server.loginArguments.length).toBeGreaterThan(0);
  const found = new Evidence([...new Set(forms)]);
  found.parts.push(...evidence.parts);
  found.assertClean();
}

describe("echo: IMAP AUTHENTICATE", () => {
  for (const mechanism of MECHANISMS) {
    it.each(ECHO_PLACES)(`${mechanism}: the echoed secret message in a %s line appears nowhere`, async (place) => {
      await run({ protocol: "imap", place, mechanism });
    });
  }
});

describe("echo: POP3 AUTH", () => {
  for (const mechanism of MECHANISMS) {
    it.each(ECHO_PLACES)(`${mechanism}: the echoed secret message in a %s line appears nowhere`, async (place) => {
      await run({ protocol: "pop3", place, mechanism });
    });
  }
});

describe("echo: protocol logins", () => {
  it.each(ECHO_PLACES)("IMAP LOGIN: the echoed password in a %s line appears nowhere", async (place) => {
    await run({ protocol: "imap", place, login: "LOGIN" });
  });
  it.each(ECHO_PLACES)("POP3 USER/PASS: the echoed password in a %s line appears nowhere", async (place) => {
    await run({ protocol: "pop3", place, login: "USER" });
  });
  it.each(ECHO_PLACES)("POP3 APOP: the echoed digest in a %s line appears nowhere", async (place) => {
    await run({ protocol: "pop3", place, login: "APOP" });
  });
});
