/**
 * `saslkit demo`, the README's main command, end to end: in-process, and as the built binary
 * (CI runs `pnpm -r build` before the tests).
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { main, type CliIo } from "@saslkit/cli";

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: { write: (t: string) => void out.push(t) },
    stderr: { write: (t: string) => void err.push(t) },
    stdin: Object.assign(new PassThrough(), { isTTY: false }),
    env: {},
    promptSecret: () => Promise.reject(new Error("the demo must never prompt")),
    readFile: () => Promise.reject(new Error("the demo reads no file")),
  };
  return { io, stdout: () => out.join(""), stderr: () => err.join("") };
}

describe("saslkit demo", () => {
  it("authenticates with the strongest mechanism, explains the others, masks AUTH and shows the received message", async () => {
    const { io, stdout, stderr } = captureIo();
    const status = await main(["demo"], io);
    const text = stdout();
    expect(stderr()).toBe("");
    expect(status).toBe(0);
    expect(text).toMatch(/1\. Server: 127\.0\.0\.1:\d+, STARTTLS/);
    // The advertised AUTH line, before and after TLS: secret-revealing mechanisms only over TLS.
    const before = /before TLS: AUTH (.*?) {3}/.exec(text)?.[1]?.split(" ") ?? [];
    const after = /after TLS: +AUTH (.*)/.exec(text)?.[1]?.split(" ") ?? [];
    expect(before).not.toContain("PLAIN");
    expect(after).toEqual(expect.arrayContaining(["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]));
    // The negotiation: chosen, with a reason for every other offered mechanism.
    expect(text).toMatch(/Chosen: +SCRAM-SHA-512-PLUS \(priority 960; channel binding, mutual authentication\)/);
    for (const name of after.filter((n) => n !== "SCRAM-SHA-512-PLUS")) expect(text).toMatch(new RegExp(`\\n {5}${name} +(usable, but lower priority|missing-credentials|explicit-only|unusable)`));
    // The masked transcript and the message as received.
    expect(text).toContain("C: STARTTLS");
    expect(text).toContain("C: AUTH SCRAM-SHA-512-PLUS ****");
    expect(text).toMatch(/S: 235 2\.7\.0 Authentication successful/);
    expect(text).toContain("authenticated as alice with SCRAM-SHA-512-PLUS, TLS");
    expect(text).toContain("   Subject: Hello from saslkit demo");
    expect(text).toContain("   .A line starting with a dot arrives intact.");
    expect(text).toMatch(/Done: 250 2\.0\.0 OK queued as .*The password appears in neither transcript\./);
  });

  it.skipIf(!existsSync("packages/cli/dist/bin.js"))("runs as the built binary and exits 0 within seconds", async () => {
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, ["packages/cli/dist/bin.js", "demo", "--quiet"], { timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Chosen: +SCRAM-SHA-512-PLUS/);
    expect(result.stdout).not.toContain("4. Transcript");
    expect(result.stdout).toContain("Done: 250");
  });

  it.skipIf(!existsSync("packages/cli/dist/bin.js"))("needs no openssl binary: runs with a PATH that holds only node", async () => {
    const nodeOnly = mkdtempSync(join(tmpdir(), "saslkit-node-only-"));
    symlinkSync(process.execPath, join(nodeOnly, "node"));
    try {
      const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(join(nodeOnly, "node"), ["packages/cli/dist/bin.js", "demo", "--quiet"], { timeout: 20_000, env: { PATH: nodeOnly } }, (error, stdout, stderr) =>
          resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("Done: 250");
    } finally {
      rmSync(nodeOnly, { recursive: true, force: true });
    }
  });
});
