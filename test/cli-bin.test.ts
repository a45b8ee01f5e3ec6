/**
 * The built `saslkit` binary as a Unix tool (issue 11, "The CLI"): per-command help, exit
 * statuses (never 13 from an unsettled promise), Ctrl-C = 130, the password prompt on the terminal
 * while stdin carries the message, and a --file message streamed with its size declared up front.
 * Runs packages/cli/dist/bin.js (the tests run after the build). Terminal cases use script(1)
 * for a pseudo-terminal and are skipped, saying so, when it is missing.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerCallbacks } from "@saslkit/core";
import { plain } from "@saslkit/mech-plain";
import { SmtpServer, type ServerTranscriptEntry } from "@saslkit/smtp-server";
import { testCertificates } from "@saslkit/test-kit";

const BIN = fileURLToPath(new URL("../packages/cli/dist/bin.js", import.meta.url));
const PASSWORD = "bin-Secret-71";
const hasScript = spawnSync("script", ["--version"]).status === 0;
const dir = mkdtempSync(join(tmpdir(), "saslkit-cli-bin-"));
const caFile = join(dir, "ca.pem");

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the binary; `detached` gives it a new session without a controlling terminal. */
function run(args: string[], options: { env?: Record<string, string>; input?: string; onStart?: (child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...options.env };
    if (!options.env?.SASLKIT_PASSWORD) delete env.SASLKIT_PASSWORD;
    const child = spawn(process.execPath, [BIN, ...args], { env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.stdin!.end(options.input ?? "");
    options.onStart?.(child);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `shell` under script(1): /dev/tty is a pseudo-terminal; each `[prompt, typed]` is typed when its prompt appears. */
function inTerminal(shell: string, prompt: string, typed: string, ...more: [string, string][]): Promise<string> {
  const steps: [string, string][] = [[prompt, typed], ...more];
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.SASLKIT_PASSWORD;
    const child = spawn("script", ["-qec", shell, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let step = 0;
    let seenUpTo = 0;
    const onData = (d: Buffer) => {
      out += d.toString();
      while (step < steps.length && out.indexOf(steps[step]![0], seenUpTo) >= 0) {
        seenUpTo = out.indexOf(steps[step]![0], seenUpTo) + steps[step]![0].length;
        const text = steps[step]![1];
        step++;
        setTimeout(() => child.stdin.write(text), 50);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

let server: SmtpServer;
let small: SmtpServer;
let silent: Server;
const serverLines: ServerTranscriptEntry[] = [];

beforeAll(async () => {
  const certs = await testCertificates();
  writeFileSync(caFile, certs.ca);
  const callbacks: ServerCallbacks = { verifyPassword: (u, p) => u === "alice" && p === PASSWORD };
  const tls = { key: certs.key, cert: certs.cert };
  server = await SmtpServer.start({ mechanisms: [plain], callbacks, tls, requireAuth: true, transcript: (e) => serverLines.push(e) });
  small = await SmtpServer.start({ mechanisms: [plain], callbacks, tls, requireAuth: true, maxMessageBytes: 4096, transcript: (e) => serverLines.push(e) });
  silent = createServer(() => undefined); // accepts and never greets
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
});

afterAll(async () => {
  await Promise.all([server.close(), small.close(), new Promise((r) => silent.close(r))]);
  rmSync(dir, { recursive: true, force: true });
});

const sendArgs = (port: number) => ["send", "--host", "127.0.0.1", "--port", String(port), "--ca", caFile, "--user", "alice", "--from", "alice@example.test", "--to", "bob@example.test"];

describe("help", () => {
  it("send --help, send -h and help send print the same per-command help, exit 0", async () => {
    const [a, b, c] = await Promise.all([run(["send", "--help"]), run(["send", "-h"]), run(["help", "send"])]);
    for (const r of [a, b, c]) expect(r.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toBe(c.stdout);
    expect(a.stdout).toMatch(/^saslkit send: /);
    for (const flag of ["--file FILE", "--channel-binding TYPE", "--no-plus", "--order", "--exclude", "--mechanism NAME"]) expect(a.stdout).toContain(flag);
    expect(a.stdout).not.toMatch(/^ +(-\w, )?--password/m); // only mentioned as absent
  });

  it("probe and demo have their own help; an unknown command suggests the closest", async () => {
    expect((await run(["probe", "--help"])).stdout).toMatch(/^saslkit probe: [\s\S]*--no-plus/);
    expect((await run(["help", "demo"])).stdout).toMatch(/^saslkit demo: [\s\S]*--quiet/);
    const typo = await run(["sned"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown command "sned". Did you mean "send"?');
  });
});

describe("exit statuses", () => {
  it("no password and no terminal: exit 2 with the way out, never 13", async () => {
    const r = await run([...sendArgs(server.port), "--body", "x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("No password: set SASLKIT_PASSWORD");
  });

  it("Ctrl-C while waiting for the server exits 130", async () => {
    const port = (silent.address() as { port: number }).port;
    const r = await run(["probe", `smtp://127.0.0.1:${port}`], { onStart: (child) => setTimeout(() => child.kill("SIGINT"), 700) });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain("interrupted");
  });

  it("authentication failure exits 3", async () => {
    const r = await run([...sendArgs(server.port), "--body", "x"], { env: { SASLKIT_PASSWORD: "wrong" } });
    expect(r.code).toBe(3);
  });
});

describe("--file streams the message as it is, size declared", () => {
  it("declares SIZE= with the file's size in MAIL FROM and delivers the bytes unchanged", async () => {
    const body = Array.from({ length: 3000 }, (_, i) => `line ${i} ${"y".repeat(60)}`).join("\r\n");
    const eml = `From: alice@example.test\r\nTo: bob@example.test\r\nSubject: streamed\r\n\r\n${body}\r\n`;
    const file = join(dir, "big.eml");
    writeFileSync(file, eml);
    const r = await run([...sendArgs(server.port), "--file", file], { env: { SASLKIT_PASSWORD: PASSWORD } });
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const mail = serverLines.map((e) => e.text).filter((t) => t.startsWith("MAIL FROM")).at(-1);
    expect(mail).toMatch(new RegExp(`^MAIL FROM:<alice@example\\.test> SIZE=${Buffer.byteLength(eml)}( |$)`));
    expect(server.messages.at(-1)?.data.toString()).toBe(eml);
    // Not a terminal: no progress, no carriage returns.
    expect(r.stderr).not.toContain("sending:");
    expect(r.stdout + r.stderr).not.toContain("\r");
  });

  it("a file larger than the server's SIZE is refused before any byte of it is uploaded", async () => {
    const file = join(dir, "too-big.eml");
    writeFileSync(file, `Subject: big\r\n\r\n${"z".repeat(20_000)}\r\n`);
    const before = serverLines.length;
    const r = await run([...sendArgs(small.port), "--file", file], { env: { SASLKIT_PASSWORD: PASSWORD } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/at most 4096/);
    expect(serverLines.slice(before).map((e) => e.text)).not.toContain("DATA");
  });
});

describe.skipIf(!hasScript)("the password prompt is on the terminal, before the body is read", () => {
  it("--file - with the message on stdin: asks on /dev/tty, then sends the message from stdin", async () => {
    const shell = `printf 'Subject: from stdin\\r\\n\\r\\npiped body\\r\\n' | '${process.execPath}' '${BIN}' ${sendArgs(server.port).join(" ")} --file -; echo "status=$?"`;
    const out = await inTerminal(shell, "Password for alice:", `${PASSWORD}\r`);
    expect(out).toContain("status=0");
    expect(out).not.toContain(PASSWORD);
    expect(server.messages.at(-1)?.data.toString()).toBe("Subject: from stdin\r\n\r\npiped body\r\n");
  });

  it("the interactive flow: password, then the body typed and ended with Ctrl-D; exits 0 (never 13)", async () => {
    const shell = `'${process.execPath}' '${BIN}' ${sendArgs(server.port).join(" ")} --subject typed; echo "status=$?"`;
    const out = await inTerminal(shell, "Password for alice:", `${PASSWORD}\r`, ["Type the message body", "typed line\r"], ["typed line", "\x04"]);
    expect(out).toContain("status=0");
    expect(out.indexOf("Password for alice:")).toBeLessThan(out.indexOf("Type the message body"));
    expect(server.messages.at(-1)?.data.toString()).toMatch(/Subject: typed\r\n[\s\S]*typed line/);
  });

  it("Ctrl-C at the prompt exits 130 and sends nothing", async () => {
    const count = server.messages.length;
    const shell = `printf 'x' | '${process.execPath}' '${BIN}' ${sendArgs(server.port).join(" ")} --file -; echo "status=$?"`;
    const out = await inTerminal(shell, "Password for alice:", "\x03");
    expect(out).toContain("status=130");
    expect(server.messages.length).toBe(count);
  });
});
