/**
 * What the server offers and accepts (issue 13 item 5, issue 10 item 5): -PLUS variants only
 * where binding data exists, EXTERNAL only where a verified client certificate can exist, the
 * advertised list handed to the server halves, EXTERNAL honouring the certificate's purpose, and
 * binding failures and downgrades reported apart from wrong credentials.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { MechanismProvider, ServerContext, ServerStep } from "@saslkit/core";
import { external } from "@saslkit/mech-external";
import { scramSha256, scramSha256Plus } from "@saslkit/mech-scram";
import { testCertificates, type TestCertificates } from "@saslkit/test-kit";
import { verifyClientChain } from "../../transport/src/client-certificate.js";
import type { ServerTranscriptEntry } from "../src/index.js";
import { RawClient, b64, callbacks, fakePlain, serverHarness, users } from "./helpers.js";

const { start, connect, track } = serverHarness();

let certs: TestCertificates;
beforeAll(async () => {
  certs = await testCertificates();
});

const mechNames = (ehlo: string[]) => (ehlo.find((l) => l.slice(4).startsWith("AUTH ")) ?? "").slice(9).split(" ").filter(Boolean);

async function upgraded(client: RawClient, clientCert?: { cert: string; key: string }): Promise<string[]> {
  expect(await client.command("STARTTLS")).toEqual(["220 2.0.0 Ready to start TLS"]);
  await client.upgrade(certs.ca, clientCert);
  return client.command("EHLO client.test");
}

describe("offers: -PLUS only where binding data exists", () => {
  it("cleartext offers SCRAM-SHA-256 but not SCRAM-SHA-256-PLUS, and refuses AUTH for the -PLUS name with 504", async () => {
    const server = await start({ mechanisms: [scramSha256Plus, scramSha256, fakePlain], tls: { key: certs.key, cert: certs.cert } });
    const client = await connect(server, { ehlo: false });
    const ehlo = await client.command("EHLO client.test");
    expect(mechNames(ehlo)).toEqual(["SCRAM-SHA-256", "PLAIN"]);
    expect(await client.command(`AUTH SCRAM-SHA-256-PLUS ${b64("p=tls-exporter,,n=alice,r=abc")}`)).toEqual(["504 5.5.4 Unrecognized authentication type"]);
    expect(mechNames(await upgraded(client))).toEqual(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"]);
  });
});

describe("offers: EXTERNAL only where a verified client certificate can exist", () => {
  it("never without requestCert, even over TLS", async () => {
    const server = await start({ mechanisms: [external, fakePlain], tls: { key: certs.key, cert: certs.cert } });
    const client = await connect(server, { ehlo: false });
    expect(mechNames(await client.command("EHLO c.test"))).toEqual(["PLAIN"]);
    expect(mechNames(await upgraded(client))).toEqual(["PLAIN"]);
    expect(await client.command("AUTH EXTERNAL =")).toEqual(["504 5.5.4 Unrecognized authentication type"]);
  });

  it("with requestCert and a CA: not in cleartext (504), offered after STARTTLS", async () => {
    const server = await start({ mechanisms: [external, fakePlain], tls: { key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true } });
    const client = await connect(server);
    expect(await client.command("AUTH EXTERNAL =")).toEqual(["504 5.5.4 Unrecognized authentication type"]);
    expect(mechNames(await upgraded(client, { cert: certs.clientCert, key: certs.clientKey }))).toContain("EXTERNAL");
  });
});

/** A mechanism "X-SPY" whose server half shows `look` its context, then refuses. */
function spyProvider(look: (context: ServerContext) => unknown): MechanismProvider {
  return {
    ...fakePlain,
    name: "X-SPY",
    priority: 50,
    security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
    createServer: (context) => {
      look(context);
      return { name: "X-SPY", start: (): ServerStep => ({ type: "failure", code: "authentication-failed", message: "no" }), step: (): ServerStep => ({ type: "failure", code: "aborted", message: "no" }) };
    },
  };
}

describe("offers: the advertised list reaches the server halves", () => {
  it("ServerContext.advertised is what this session's EHLO offered", async () => {
    const seen: (readonly string[] | undefined)[] = [];
    const spy = spyProvider((context) => seen.push((context as { advertised?: readonly string[] }).advertised));
    const server = await start({ mechanisms: [scramSha256Plus, scramSha256, spy], tls: { key: certs.key, cert: certs.cert } });
    const client = await connect(server);
    await client.command("AUTH X-SPY =");
    await upgraded(client);
    await client.command("AUTH X-SPY =");
    expect(seen).toEqual([
      ["SCRAM-SHA-256", "X-SPY"],
      ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "X-SPY"],
    ]);
  });
});

describe("offers: the channel the server halves receive", () => {
  it("ServerContext.channel names the server by its hostname (host) and carries the address the client connected to (localAddress)", async () => {
    const seen: unknown[] = [];
    const spy = spyProvider((context) => seen.push(context.channel));
    // 127.0.0.2, not the 127.0.0.1 every other test uses: the address is the one connected to.
    const server = await start({ host: "127.0.0.2", hostname: "mx.example.test", mechanisms: [spy] });
    const client = track(await RawClient.connect(server.port, { host: "127.0.0.2" }));
    expect((await client.reply())[0]).toMatch(/^220 /);
    await client.command("EHLO client.test");
    await client.command("AUTH X-SPY =");
    expect(seen).toEqual([expect.objectContaining({ host: "mx.example.test", localAddress: "127.0.0.2", loopback: true, service: "smtp" })]);
  });
});

describe("offers: the cleartext rule is core's (the clients' policy.cleartext values)", () => {
  it('cleartext: "never" hides PLAIN even on loopback and answers 538', async () => {
    const server = await start({ cleartext: "never" });
    const client = await connect(server, { ehlo: false });
    expect(mechNames(await client.command("EHLO c.test"))).toEqual(["X-RECORD"]);
    expect(await client.command(`AUTH PLAIN ${b64(`\0alice\0${users.alice}`)}`)).toEqual(["538 5.7.11 Encryption required for requested authentication mechanism"]);
  });

  it('cleartext: "loopback" (default) allows PLAIN on loopback; "allow" too', async () => {
    for (const cleartext of [undefined, "allow"] as const) {
      const server = await start(cleartext ? { cleartext } : {});
      const client = await connect(server, { ehlo: false });
      expect(mechNames(await client.command("EHLO c.test"))).toContain("PLAIN");
    }
  });
});

describe("EXTERNAL honours the certificate's purpose (RFC 5280 §4.2.1.12)", () => {
  async function externalWith(clientCert: { cert: string; key: string }, transcript?: (e: ServerTranscriptEntry) => void) {
    const server = await start({ mechanisms: [external], callbacks, tls: { key: certs.key, cert: certs.cert, ca: certs.ca, requestCert: true }, ...(transcript ? { transcript } : {}) });
    const client = await connect(server);
    await upgraded(client, clientCert);
    return client.command("AUTH EXTERNAL =");
  }

  it("a client certificate for clientAuth logs in as its CN", async () => {
    expect(await externalWith({ cert: certs.clientCert, key: certs.clientKey })).toEqual(["235 2.7.0 Authentication successful"]);
  });

  it("a CA-issued certificate whose extendedKeyUsage is serverAuth only does not log in, and the log says why", async () => {
    const log: string[] = [];
    const reply = await externalWith({ cert: certs.cert, key: certs.key }, (e) => log.push(e.text));
    expect(reply[0]).toMatch(/^535 5\.7\.8 /);
    expect(log.join("\n")).toMatch(/client certificate not accepted for EXTERNAL: .*clientAuth/);
  });
});

/** A small PKI made with openssl for the chain cases the shared test certificates do not cover. */
async function makePki(): Promise<Record<string, X509Certificate>> {
  const dir = await mkdtemp(join(tmpdir(), "saslkit-pki-"));
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => execFile("openssl", args, { cwd: dir, timeout: 20_000 }, (error, _o, stderr) => (error ? reject(new Error(stderr || error.message)) : resolve())));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const issue = async (name: string, issuer: string, ext: string) => {
    await writeFile(join(dir, `${name}.ext`), ext);
    await run(["req", "-new", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    await run(["x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "30", "-sha256", "-extfile", `${name}.ext`]);
  };
  try {
    await run(["req", "-x509", ...ec, "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/CN=root", "-sha256"]);
    await issue("inter", "root", "basicConstraints=critical,CA:TRUE\n");
    await issue("notca", "root", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n");
    await issue("serveronlyca", "root", "basicConstraints=critical,CA:TRUE\nextendedKeyUsage=serverAuth\n");
    await issue("noeku", "root", "basicConstraints=CA:FALSE\n");
    await issue("anyeku", "root", "extendedKeyUsage=anyExtendedKeyUsage\n");
    await issue("both", "root", "extendedKeyUsage=serverAuth,clientAuth\n");
    await issue("viainter", "inter", "extendedKeyUsage=clientAuth\n");
    await issue("vianotca", "notca", "extendedKeyUsage=clientAuth\n");
    await issue("viaserveronly", "serveronlyca", "extendedKeyUsage=clientAuth\n");
    const out: Record<string, X509Certificate> = {};
    for (const name of ["root", "inter", "notca", "serveronlyca", "noeku", "anyeku", "both", "viainter", "vianotca", "viaserveronly"]) out[name] = new X509Certificate(await readFile(join(dir, `${name}.pem`)));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("client certificate chain verification with purpose", () => {
  let pki: Record<string, X509Certificate>;
  beforeAll(async () => {
    pki = await makePki();
  });
  const verdict = (leaf: string, intermediates: string[] = []) =>
    verifyClientChain(
      pki[leaf]!,
      intermediates.map((n) => pki[n]!),
      [pki.root!],
    );

  it.each([
    ["noeku", [], "noeku"],
    ["anyeku", [], "anyeku"],
    ["both", [], "both"],
    ["viainter", ["inter"], "viainter"],
  ] as const)("accepts %s", (leaf, intermediates, cn) => {
    expect(verdict(leaf, [...intermediates])).toEqual({ identity: cn });
  });

  it.each([
    ["vianotca", ["notca"], /not a CA/],
    ["viaserveronly", ["serveronlyca"], /intermediate CA does not allow TLS client authentication/],
    ["viainter", [], /not issued under a trusted CA/],
  ] as const)("refuses %s", (leaf, intermediates, problem) => {
    const v = verdict(leaf, [...intermediates]);
    expect("problem" in v && v.problem).toMatch(problem);
  });

  it("refuses a leaf outside its validity period", () => {
    const v = verifyClientChain(pki.noeku!, [], [pki.root!], Date.now() + 400 * 24 * 3600 * 1000);
    expect("problem" in v && v.problem).toMatch(/validity/);
  });
});

describe("binding failures and downgrades are told apart from wrong credentials", () => {
  const failing = (message: string, reason?: string): MechanismProvider => ({
    ...fakePlain,
    name: "X-FAIL",
    priority: 40,
    security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false },
    createServer: () => ({
      name: "X-FAIL",
      start: (): ServerStep => ({ type: "failure", code: "authentication-failed", message, ...(reason ? { reason } : {}) }),
      step: (): ServerStep => ({ type: "failure", code: "aborted", message: "" }),
    }),
  });

  it("a half's own reason (ServerStep.reason, the log only) decides when it gives one", async () => {
    const log: string[] = [];
    const server = await start({ mechanisms: [failing("e=other-error", "downgrade")], transcript: (e) => log.push(e.text) });
    const client = await connect(server);
    expect(await client.command("AUTH X-FAIL =")).toEqual(["535 5.7.8 Authentication failed: channel binding downgrade detected"]);
    expect(log).toContain("AUTH X-FAIL failed: channel binding downgrade detected (not a credentials problem) (e=other-error)");
  });

  it.each([
    ["e=channel-bindings-dont-match", "535 5.7.8 Authentication failed: channel binding could not be verified", "channel binding failure (not a credentials problem)"],
    ["e=unsupported-channel-binding-type", "535 5.7.8 Authentication failed: channel binding could not be verified", "channel binding failure (not a credentials problem)"],
    ["e=server-does-support-channel-binding", "535 5.7.8 Authentication failed: channel binding downgrade detected", "channel binding downgrade detected (not a credentials problem)"],
    ["e=invalid-proof", "535 5.7.8 Authentication credentials invalid", "wrong credentials"],
  ])("%s → %s", async (message, reply, note) => {
    const log: string[] = [];
    const server = await start({ mechanisms: [failing(message)], transcript: (e) => log.push(e.text) });
    const client = await connect(server);
    expect(await client.command("AUTH X-FAIL =")).toEqual([reply]);
    expect(log).toContain(`AUTH X-FAIL failed: ${note} (${message})`);
  });

  it("a real SCRAM client that says 'y' (could bind) to a server that offered -PLUS is a downgrade, not a wrong password", async () => {
    const log: string[] = [];
    const server = await start({ mechanisms: [scramSha256Plus, scramSha256], tls: { key: certs.key, cert: certs.cert }, transcript: (e) => log.push(e.text) });
    const client = track(await RawClient.connect(server.port));
    await client.reply();
    await client.command("EHLO c.test");
    await upgraded(client);
    expect(await client.command(`AUTH SCRAM-SHA-256 ${b64("y,,n=alice,r=rOprNGfwEbeRWgbNEkqO")}`)).toEqual(["535 5.7.8 Authentication failed: channel binding downgrade detected"]);
    expect(log.join("\n")).toContain("channel binding downgrade detected");
  });

  it("without a -PLUS variant on offer, a TLS client saying 'y' is not a downgrade: the exchange goes on (RFC 5802 §6)", async () => {
    const log: string[] = [];
    const server = await start({ mechanisms: [scramSha256], callbacks: { lookupScramKeys: () => undefined }, tls: { key: certs.key, cert: certs.cert }, transcript: (e) => log.push(e.text) });
    const client = track(await RawClient.connect(server.port));
    await client.reply();
    await client.command("EHLO c.test");
    expect(mechNames(await upgraded(client))).toEqual(["SCRAM-SHA-256"]);
    const reply = await client.command(`AUTH SCRAM-SHA-256 ${b64("y,,n=alice,r=rOprNGfwEbeRWgbNEkqO")}`);
    expect(reply[0]).toMatch(/^334 /);
    expect(Buffer.from(reply[0]!.slice(4), "base64").toString()).toMatch(/^r=rOprNGfwEbeRWgbNEkqO[^,]+,s=[^,]+,i=\d+$/);
    expect(log.join("\n")).not.toContain("downgrade");
  });
});
