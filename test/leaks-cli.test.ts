/**
 * Credential leaks through the command line (issue 6, "Credentials"): `saslkit send` and
 * `saslkit probe` run in-process (main + a captured CliIo) with --debug, against the embedded
 * smtp-server and against the real Postfix (15025 STARTTLS and cleartext, 15465 implicit TLS),
 * Dovecot IMAP and POP3, with the right and with a wrong password. The password reaches the CLI
 * only as SASLKIT_PASSWORD in process.env (set per run and restored). stdout and stderr (and the
 * embedded server's transcript) are searched for every password, token and wrong secret, raw,
 * hex and base64 at every alignment: zero hits.
 */
import { readFile } from "node:fs/promises";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, type CliIo } from "@saslkit/cli";
import { SmtpServer } from "@saslkit/smtp-server";
import { testCertificates } from "@saslkit/test-kit";
import { Evidence, formsOf } from "./hardening/leak-sweep.js";
import { ALL_PROVIDERS, CALLBACKS, SCRAM_TEST_OPTIONS, USER } from "./hardening/mechanisms.js";
import { PASSWORD, TOKEN } from "./hardening/secrets.js";
import { realServers, type ServerEnv } from "./support/smtp-real.js";

const env = realServers();
const WRONG_PASSWORD = "Wrong-cli-4e3d2c1b-Password?";
const FORMS = formsOf([
  PASSWORD,
  TOKEN,
  WRONG_PASSWORD,
  ...(env ? [env.users.alice.password, env.users.bob.password, env.oauth.tokens.alice, env.oauth.tokens.bob] : []),
]);

/** In-memory files the CLI may read (--ca), falling back to the real file system. */
const files = new Map<string, string>();

interface CliRun {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `saslkit argv` in-process with SASLKIT_PASSWORD = `password` in process.env (restored
 * afterwards; unset when `password` is undefined), and records its output in `evidence`.
 */
async function cli(argv: readonly string[], password: string | undefined, evidence: Evidence): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const stdin = Object.assign(new PassThrough(), { isTTY: false });
  stdin.end("");
  const io: CliIo = {
    stdout: { write: (t: string) => void out.push(t), isTTY: false },
    stderr: { write: (t: string) => void err.push(t), isTTY: false },
    stdin,
    env: process.env,
    promptSecret: () => Promise.reject(new Error("the leak sweep never answers a prompt")),
    readFile: async (path) => {
      const mem = files.get(path);
      return mem !== undefined ? Buffer.from(mem) : readFile(path);
    },
  };
  const before = process.env.SASLKIT_PASSWORD;
  if (password === undefined) delete process.env.SASLKIT_PASSWORD;
  else process.env.SASLKIT_PASSWORD = password;
  let status: number;
  try {
    status = await main(argv, io);
  } finally {
    if (before === undefined) delete process.env.SASLKIT_PASSWORD;
    else process.env.SASLKIT_PASSWORD = before;
  }
  const run = { status, stdout: out.join(""), stderr: err.join("") };
  evidence.text(`saslkit ${argv.join(" ")} -> ${status}`, `${run.stdout}\n${run.stderr}`);
  return run;
}

it("the sweep finds a secret planted in CLI output (raw, in a base64 AUTH line, in hex)", () => {
  for (const text of [
    `C: AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASSWORD}`).toString("base64")}`,
    `error: password ${WRONG_PASSWORD} refused`,
    `debug ${Buffer.from(PASSWORD).toString("hex")}`,
  ]) {
    const evidence = new Evidence(FORMS);
    evidence.text("planted", text);
    expect(evidence.hits().hits).not.toEqual([]);
  }
  expect(process.env.SASLKIT_PASSWORD).not.toBe(PASSWORD);
});

describe("saslkit send and probe against the embedded smtp-server", () => {
  let server: SmtpServer;
  const serverLog: string[] = [];
  beforeAll(async () => {
    const certs = await testCertificates();
    files.set("/embedded-ca.pem", certs.ca);
    server = await SmtpServer.start({
      hostname: "localhost",
      mechanisms: ALL_PROVIDERS,
      callbacks: CALLBACKS,
      mechanismOptions: SCRAM_TEST_OPTIONS,
      tls: { key: certs.key, cert: certs.cert },
      requireTls: true,
      requireAuth: true,
      maxAuthFailures: 100,
      transcript: (e) => serverLog.push(`${e.direction} ${e.text}`),
    });
  });
  afterAll(() => server.close());

  const send = (...extra: string[]) => [
    "send",
    "--host",
    "127.0.0.1",
    "--port",
    String(server.port),
    "--ca",
    "/embedded-ca.pem",
    "--user",
    USER,
    "--from",
    "a@example.test",
    "--to",
    "b@example.test",
    "--subject",
    "leak sweep",
    "--body",
    "hello",
    "--debug",
    ...extra,
  ];

  it.each([[undefined], ["SCRAM-SHA-512-PLUS"], ["SCRAM-SHA-256"], ["SCRAM-SHA-1"], ["DIGEST-MD5"], ["CRAM-MD5"], ["PLAIN"], ["LOGIN"]])(
    "send --debug (mechanism %s): right password sends, wrong password fails; no secret in the output",
    async (mechanism) => {
      const evidence = new Evidence(FORMS);
      const args = send(...(mechanism ? ["--mechanism", mechanism] : []));
      const good = await cli(args, PASSWORD, evidence);
      expect(good.stderr).toContain(`Authenticated as ${USER} with ${mechanism ?? "SCRAM-SHA-512-PLUS"} over TLS.`);
      expect(good.stderr).toMatch(/^C: AUTH [A-Z0-9-]+/m);
      expect(good.status).toBe(0);
      const bad = await cli(args, WRONG_PASSWORD, evidence);
      expect(bad.status).toBe(3); // exit 3: authentication failed
      expect(bad.stderr).toContain("535");
      evidence.text("server transcript", serverLog.join("\n"));
      evidence.assertClean();
    },
  );

  it("probe smtp:// --debug --oauth with SASLKIT_PASSWORD set: no secret in the output", async () => {
    const evidence = new Evidence(FORMS);
    const run = await cli(["probe", `smtp://127.0.0.1:${server.port}`, "--ca", "/embedded-ca.pem", "--user", USER, "--oauth", "--debug"], PASSWORD, evidence);
    expect(run.stdout).toContain("Negotiation for user");
    expect(run.stderr).toContain("C: EHLO");
    expect(run.status).toBe(0);
    evidence.assertClean();
  });
});

describe.skipIf(!env)("saslkit send and probe against the real Postfix and Dovecot", () => {
  const e = env as ServerEnv;
  const alice = () => e.users.alice;
  const send = (port: number, ...extra: string[]) => [
    "send",
    "--host",
    e.host,
    "--port",
    String(port),
    "--ca",
    e.caFile,
    "--user",
    alice().user,
    "--from",
    `sender@${e.domain}`,
    "--to",
    alice().address,
    "--subject",
    "saslkit CLI leak sweep",
    "--body",
    "hello",
    "--debug",
    ...extra,
  ];

  const cases: Array<[string, number, string[], string]> = [
    ["STARTTLS, negotiated", 0, [], "SCRAM-SHA-256"],
    ["STARTTLS, PLAIN", 0, ["--mechanism", "PLAIN"], "PLAIN"],
    ["STARTTLS, LOGIN", 0, ["--mechanism", "LOGIN"], "LOGIN"],
    ["STARTTLS, DIGEST-MD5", 0, ["--mechanism", "DIGEST-MD5"], "DIGEST-MD5"],
    ["STARTTLS, CRAM-MD5", 0, ["--mechanism", "CRAM-MD5"], "CRAM-MD5"],
    ["STARTTLS, SCRAM-SHA-1", 0, ["--mechanism", "SCRAM-SHA-1"], "SCRAM-SHA-1"],
    ["implicit TLS, negotiated", 1, ["--tls", "implicit"], "SCRAM-SHA-256"],
    ["cleartext on loopback, PLAIN", 0, ["--tls", "none", "--mechanism", "PLAIN"], "PLAIN"],
  ];

  it.each(cases)("send --debug to Postfix (%s): right password delivers, wrong password fails; no secret in the output", async (_label, which, extra, mechanism) => {
    const evidence = new Evidence(FORMS);
    const args = send(which === 0 ? e.smtp.port : e.smtp.tlsPort, ...extra);
    const good = await cli(args, alice().password, evidence);
    expect(good.stderr).toContain(`Authenticated as ${alice().user} with ${mechanism} ${extra.includes("none") ? "without TLS" : "over TLS"}.`);
    expect(good.stdout).toMatch(/^Sent /);
    expect(good.status).toBe(0);
    const bad = await cli(args, PASSWORD, evidence);
    expect(bad.status).toBe(3); // exit 3: authentication failed
    expect(bad.stderr).toContain("535");
    evidence.assertClean();
  });

  it("probe --debug --oauth of every real listener (smtp, smtps, imap, imaps, pop3, pop3s) with SASLKIT_PASSWORD set: no secret in the output", async () => {
    const evidence = new Evidence(FORMS);
    const urls = [
      `smtp://${e.host}:${e.smtp.port}`,
      `smtps://${e.host}:${e.smtp.tlsPort}`,
      `imap://${e.host}:${e.imap.port}`,
      `imaps://${e.host}:${e.imap.tlsPort}`,
      `pop3://${e.host}:${e.pop3.port}`,
      `pop3s://${e.host}:${e.pop3.tlsPort}`,
    ];
    for (const url of urls) {
      const run = await cli(["probe", url, "--ca", e.caFile, "--user", alice().user, "--oauth", "--debug"], alice().password, evidence);
      expect(run.stdout).toContain("Channel:        TLS (loopback)");
      expect(run.stdout).toContain("Negotiation for user");
      expect(run.stderr).toMatch(/^S: /m);
      expect(run.status).toBe(0);
    }
    evidence.assertClean();
  });
});
