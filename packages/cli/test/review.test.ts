/**
 * Command-line findings of review round 3: usage errors that echo a URL never show the password
 * written into it, and a connection that breaks during authentication is a failure (1), not
 * "authentication failed" (3).
 */
import { afterEach, describe, expect, it } from "vitest";
import { startScriptedServer, type ScriptedServer } from "@saslkit/test-kit";
import { exitStatusOf } from "../src/format.js";
import { main } from "../src/main.js";
import { memoryIo } from "./helpers.js";

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe("probe: a URL with a password in it is never echoed with the password", () => {
  it.each([
    ["an out-of-range port", "imap://alice:S3cret-pw@mail.example.org:99999"],
    ["a missing scheme colon", "imaps//alice:S3cret-pw@mail.example.org"],
    ["no host after the user information", "imap:alice:S3cret-pw@"],
    ["an unclosed IPv6 bracket", "pop3://alice:S3cret-pw@[::1"],
  ])("%s: usage error (2), the password not on stderr or stdout", async (_what, url) => {
    const { io, stdout, stderr } = memoryIo();
    expect(await main(["probe", url], io)).toBe(2);
    expect(stderr()).toMatch(/^saslkit: /);
    expect(stdout() + stderr()).not.toContain("S3cret-pw");
  });
});

describe("exit status: a broken connection during authentication is a failure (1), not an authentication failure (3)", () => {
  it.each([
    [{ phase: "authenticate", code: "timeout" }, 1],
    [{ phase: "authenticate", code: "closed" }, 1],
    [{ phase: "authenticate", code: "protocol-error" }, 1],
    [{ phase: "authenticate", code: "line-too-long" }, 1],
    [{ phase: "auth", code: "too-many-rounds" }, 1],
    [{ phase: "authenticate", code: "authentication-failed" }, 3],
    [{ phase: "auth", code: "no-mechanism" }, 3],
    [{ phase: "authenticate", code: "mechanism-rejected" }, 3],
  ])("%j -> %i", (fields, status) => {
    expect(exitStatusOf(Object.assign(new Error("x"), fields))).toBe(status);
  });

  it("saslkit send: the server drops the connection after AUTH -> 1", async () => {
    const server = await startScriptedServer("S: 220 test ESMTP\nC: EHLO *\nS: 250-test\nS: 250 AUTH PLAIN\nC: AUTH PLAIN *\n!close\n");
    servers.push(server);
    const { io, stderr } = memoryIo({ env: { SASLKIT_PASSWORD: "pw-123456" } });
    const status = await main(["send", "--host", "127.0.0.1", "--port", String(server.port), "--tls", "none", "--user", "u", "--from", "a@b.test", "--to", "c@d.test", "--body", "x"], io);
    expect(stderr()).toMatch(/closed/);
    expect(status).toBe(1);
  });
});
