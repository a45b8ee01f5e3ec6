/**
 * DIGEST-MD5 interop with GNU gsasl 2.2 as an independent peer, over its stdio mode:
 * - OUR client (core's runExchange) against `gsasl --server`;
 * - `gsasl --client` against OUR server half.
 * Both directions check rspauth: gsasl's client refuses a wrong one, ours throws.
 * Without gsasl the suite is skipped locally and FAILS under CI=true.
 *
 * Non-ASCII: gsasl converts the password to ISO 8859-1 before hashing (RFC 2831 §2.1.2.1 taken
 * literally) but hashes the user name as UTF-8 (/work/shared/servers.md, gotcha 10). Our server
 * half accepts that form; our client matches it only with `latin1Hash`, and then only when the
 * user name is ASCII, since our option converts both (as the RFC words it).
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { Credentials, SaslError, runExchange, type SaslExchange, type ServerCallbacks, type ServerEvent, type ServerStep } from "@saslkit/core";
import { DigestMd5Client, DigestMd5Server } from "@saslkit/mech-digest-md5";
import { GsaslProcess, gsaslAvailable } from "./support/gsasl-stdio.js";

const available = gsaslAvailable();

// Defined only when it must fail, so a healthy CI run reports no skipped test.
if (!available && process.env["CI"] === "true") {
  describe("DIGEST-MD5 gsasl interop (required under CI)", () => {
    it("gsasl is installed", () => {
      expect.fail("gsasl is not installed, and CI=true requires the interop suite: install it (test/servers/install.sh, apt-get install gsasl).");
    });
  });
}

const live = new Set<GsaslProcess>();
afterEach(() => {
  for (const g of live) g.kill();
  live.clear();
});
const gsasl = (args: readonly string[]): GsaslProcess => {
  const g = new GsaslProcess(args);
  live.add(g);
  return g;
};

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");
const unb64 = (line: string): Uint8Array => new Uint8Array(Buffer.from(line, "base64"));
/** Options every gsasl DIGEST-MD5 run needs, or it prompts on stdin (servers.md gotcha 9). */
const DIGEST_ARGS = ["--mechanism=DIGEST-MD5", "--service=imap", "--hostname=localhost", "--quality-of-protection=qop-auth"];

/** A SaslExchange over `gsasl --server`: each output line is a challenge; end of output is the outcome. */
function gsaslServerExchange(g: GsaslProcess): SaslExchange {
  let responses = 0;
  const next = async (): Promise<ServerEvent> => {
    const line = await g.readLine();
    if (line === null || line === "") {
      const code = await g.exitCode();
      if (code === 0) return { type: "success", data: null };
      return { type: "failure", code: "authentication-failed", reply: { status: String(code), text: g.stderr.trim() || "gsasl failed" } };
    }
    return { type: "challenge", data: unb64(line) };
  };
  return {
    async begin(mechanism, initial) {
      expect(await g.readLine()).toBe(mechanism);
      expect(initial).toBeNull();
      return next();
    },
    async respond(response) {
      g.writeLine(b64(response));
      // After the answer to rspauth the exchange is over: gsasl then wants end of input.
      if (++responses === 2) g.closeInput();
      return next();
    },
    async cancel() {
      g.kill();
      return { type: "failure", code: "aborted", reply: { status: "killed", text: "cancelled" } };
    },
  };
}

async function ourClientAgainstGsasl(opts: { user: string; password: string; serverPassword: string; latin1Hash?: boolean }): Promise<{ error?: SaslError; complete: boolean }> {
  const g = gsasl(["--server", ...DIGEST_ARGS, `--password=${opts.serverPassword}`, "--realm=peers"]);
  const client = new DigestMd5Client({
    credentials: Credentials.from({ username: opts.user, password: opts.password }),
    channel: { secure: true, host: "localhost", service: "imap" },
    options: opts.latin1Hash ? { digestMd5: { latin1Hash: true } } : {},
  });
  try {
    await runExchange(client, gsaslServerExchange(g));
    return { complete: client.complete };
  } catch (error) {
    if (!(error instanceof SaslError)) throw error;
    return { error, complete: client.complete };
  }
}

/** Runs `gsasl --client` against our server half; resolves gsasl's exit status and our outcome. */
async function gsaslAgainstOurServer(opts: {
  user: string;
  password: string;
  stored: Record<string, string>;
  authzid?: string;
  callbacks?: ServerCallbacks;
  tamperRspauth?: boolean;
}): Promise<{ exit: number | null; outcome: ServerStep }> {
  const g = gsasl(["--client", ...DIGEST_ARGS, "-a", opts.user, "-p", opts.password, "--realm=", ...(opts.authzid ? ["-z", opts.authzid] : [])]);
  const server = new DigestMd5Server({
    callbacks: { lookupPassword: (u) => opts.stored[u], ...opts.callbacks },
    hostname: "localhost",
    channel: { secure: true, service: "imap" },
    options: { digestMd5: { realms: [] } },
  });
  expect(await g.readLine()).toBe("DIGEST-MD5");
  expect(await g.readLine()).toBe(""); // no initial response: server-first
  const challenge = (await server.start(null)) as Extract<ServerStep, { type: "challenge" }>;
  g.writeLine(b64(challenge.data));
  const response = await g.readLine();
  expect(response).not.toBeNull();
  const outcome = await server.step(unb64(response ?? ""));
  if (outcome.type === "success" && outcome.data) {
    const data = opts.tamperRspauth ? new Uint8Array(Buffer.from(`rspauth=${randomBytes(16).toString("hex")}`)) : outcome.data;
    g.writeLine(b64(data));
    // gsasl answers a good rspauth with an empty line, then reads one more line before it exits.
    if ((await g.readLine()) === "") g.writeLine("");
  }
  g.closeInput();
  while ((await g.readLine()) !== null);
  return { exit: await g.exitCode(), outcome };
}

describe.skipIf(!available)("DIGEST-MD5 interop with GNU gsasl", () => {
  describe("our client against gsasl --server", () => {
    it("authenticates and verifies gsasl's rspauth", async () => {
      const result = await ourClientAgainstGsasl({ user: "alice", password: "alice-Secret-1", serverPassword: "alice-Secret-1" });
      expect(result.error).toBeUndefined();
      expect(result.complete).toBe(true);
    });

    it("a wrong password is refused by gsasl", async () => {
      const result = await ourClientAgainstGsasl({ user: "alice", password: "wrong", serverPassword: "alice-Secret-1" });
      expect(result.error?.code).toBe("authentication-failed");
      expect(result.complete).toBe(false);
    });

    it("a non-ASCII password: gsasl hashes it as ISO 8859-1, so only latin1Hash matches", async () => {
      const utf8 = await ourClientAgainstGsasl({ user: "alice", password: "pässwörd-ü", serverPassword: "pässwörd-ü" });
      expect(utf8.error?.code).toBe("authentication-failed");
      const latin1 = await ourClientAgainstGsasl({ user: "alice", password: "pässwörd-ü", serverPassword: "pässwörd-ü", latin1Hash: true });
      expect(latin1.error).toBeUndefined();
      expect(latin1.complete).toBe(true);
    });
  });

  describe("gsasl --client against our server half", () => {
    it("authenticates, and gsasl accepts our rspauth", async () => {
      const { exit, outcome } = await gsaslAgainstOurServer({ user: "alice", password: "alice-Secret-1", stored: { alice: "alice-Secret-1" } });
      expect(outcome).toMatchObject({ type: "success", identity: { authcid: "alice", authzid: "alice" } });
      expect(exit).toBe(0);
    });

    it("gsasl refuses a wrong rspauth", async () => {
      const { exit, outcome } = await gsaslAgainstOurServer({ user: "alice", password: "alice-Secret-1", stored: { alice: "alice-Secret-1" }, tamperRspauth: true });
      expect(outcome.type).toBe("success");
      expect(exit).not.toBe(0);
    });

    it("a wrong password fails on our side", async () => {
      const { exit, outcome } = await gsaslAgainstOurServer({ user: "alice", password: "wrong", stored: { alice: "alice-Secret-1" } });
      expect(outcome).toEqual({ type: "failure", code: "authentication-failed", message: "Authentication failed." });
      expect(exit).not.toBe(0);
    });

    it("non-ASCII user and password (gsasl's mixed hashing is accepted)", async () => {
      const { exit, outcome } = await gsaslAgainstOurServer({ user: "ümlaut", password: "pässwörd-ü", stored: { "ümlaut": "pässwörd-ü" } });
      expect(outcome).toMatchObject({ type: "success", identity: { authcid: "ümlaut" } });
      expect(exit).toBe(0);
    });

    it("an authzid needs the authorize callback", async () => {
      const refused = await gsaslAgainstOurServer({ user: "alice", password: "pw", stored: { alice: "pw" }, authzid: "bob" });
      expect(refused.outcome).toMatchObject({ type: "failure", code: "authorization-failed" });
      const allowed = await gsaslAgainstOurServer({ user: "alice", password: "pw", stored: { alice: "pw" }, authzid: "bob", callbacks: { authorize: (c, z) => c === "alice" && z === "bob" } });
      expect(allowed.outcome).toMatchObject({ type: "success", identity: { authcid: "alice", authzid: "bob" } });
      expect(allowed.exit).toBe(0);
    });
  });
});
