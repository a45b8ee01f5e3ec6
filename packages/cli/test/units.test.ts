import { PassThrough, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, expect, it } from "vitest";
import { defineCredential, USERNAME, PASSWORD, planNegotiation, type MechanismProvider } from "@saslkit/core";

/** A secret of a kind core does not know, as a family package would declare it. */
const TOKEN_KEY = defineCredential("tokenForTest", { secret: true }); // not "token": mech-oauth defines that one, and the CLI loads it
import { loadMessage, parseSendArgs } from "../src/commands/send.js";
import { progressStream } from "../src/commands/send-smtp.js";
import { refusedForTls, tlsRequiredExplanation } from "../src/commands/probe.js";
import { exitStatusOf, formatBytes, formatError, formatNegotiation, tidySentence, viewOfPlan } from "../src/format.js";
import { isLoopbackHost } from "../src/options.js";
import { ProgressLine } from "../src/terminal.js";
import { promptHidden, UsageError } from "../src/io.js";
import { main } from "../src/main.js";
import { memoryIo } from "./helpers.js";

const required = ["--host", "h.test", "--user", "u", "--from", "a@b.test", "--to", "c@d.test", "--body", "x"];

describe("send arguments", () => {
  it("defaults to STARTTLS on 587 and requires TLS", async () => {
    const r = await parseSendArgs(required, memoryIo().io);
    expect(r).toMatchObject({ host: "h.test", port: 587, tls: "starttls", policy: {}, debug: false, progress: false });
    expect(r.source).toEqual({ kind: "compose", subject: "", text: "x" });
  });

  it("port 465 means implicit TLS; --tls none means plain 25 without the TLS requirement", async () => {
    expect(await parseSendArgs([...required, "--port", "465"], memoryIo().io)).toMatchObject({ port: 465, tls: "implicit" });
    expect(await parseSendArgs([...required, "--tls", "none"], memoryIo().io)).toMatchObject({ port: 25, tls: "none" });
  });

  it("collects repeated --to; --file names a raw message, --file - the raw message on stdin", async () => {
    const { io } = memoryIo({ files: { "m.eml": "Subject: s\r\n\r\nb\r\n" } });
    const r = await parseSendArgs(["--host", "h", "--user", "u", "--from", "a@b.test", "--to", "x@y.test", "--to", "z@y.test", "--file", "m.eml"], io);
    expect(r.to).toEqual(["x@y.test", "z@y.test"]);
    expect(r.source).toEqual({ kind: "file", path: "m.eml" });
    expect(await loadMessage(r.source, io)).toEqual({ kind: "raw", data: Buffer.from("Subject: s\r\n\r\nb\r\n") });
    const dash = await parseSendArgs(["--host", "h", "--user", "u", "--from", "a@b.test", "--to", "x@y.test", "--file", "-"], io);
    expect(dash.source).toEqual({ kind: "stdin" });
  });

  it.each([
    [["--user", "u", "--from", "a@b", "--to", "c@d"], /--host is required/],
    [["--host", "h", "--from", "a@b", "--to", "c@d"], /--user is required/],
    [["--host", "h", "--user", "u", "--to", "c@d"], /--from is required/],
    [["--host", "h", "--user", "u", "--from", "a@b"], /at least one --to/],
    [[...required, "--file", "m.eml"], /exclude each other/],
    [["--host", "h", "--user", "u", "--from", "a@b", "--to", "c@d", "--bdy", "x"], /unknown option --bdy\. Did you mean --body\?/],
    [["--host", "h", "--user", "u", "--from", "alice", "--to", "c@d", "--body", "x"], /--from "alice" is not an address of the form name@domain/],
    [["--host", "h", "--user", "u", "--from", "a@b", "--to", "c@d>x", "--body", "x"], /--to "c@d>x"/],
    [[...required, "--mechanism", "SCRAM-SHA-265"], /not an installed mechanism\. Did you mean SCRAM-SHA-256\? Installed: SCRAM-SHA-512-PLUS .*PLAIN/],
    [[...required, "--exclude", "PLAN"], /--exclude: "PLAN" is not an installed mechanism\. Did you mean PLAIN\?/],
    [[...required, "--channel-binding", "tls-uniq"], /--channel-binding must be auto, none, tls-exporter/],
    [[...required, "--mechanism", "SCRAM-SHA-256-PLUS", "--no-plus"], /also excluded/],
  ])("%j is a usage error", async (argv, message) => {
    await expect(parseSendArgs(argv, memoryIo().io)).rejects.toThrow(message);
    await expect(parseSendArgs(argv, memoryIo().io)).rejects.toBeInstanceOf(UsageError);
  });

  it.each([
    [["--host", "other.test"], "--host"],
    [["--port", "1", "--port=2"], "--port"],
    [["-u", "mallory"], "--user"],
    [["--tls", "none", "--tls", "implicit"], "--tls"],
    [["-m", "PLAIN", "--mechanism", "LOGIN"], "--mechanism"],
    [["--channel-binding", "none", "--channel-binding", "tls-exporter"], "--channel-binding"],
  ])("a single-value flag given twice (%j added) is a usage error naming it, not the last one silently", async (extra, flag) => {
    const error = await parseSendArgs([...required, ...extra], memoryIo().io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`send: ${flag} is given more than once; it takes one value.`);
  });

  it.each([
    [["--insecure", "--insecure"], "--insecure"],
    [["--debug", "-d"], "--debug"],
    [["-dd"], "--debug"],
    [["--no-plus", "--no-plus"], "--no-plus"],
    [["--progress", "--progress"], "--progress"],
  ])("a switch given twice (%j added) is a usage error naming it, as a repeated single-value flag is", async (extra, flag) => {
    const error = await parseSendArgs([...required, ...extra], memoryIo().io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(`send: ${flag} is given more than once; it is a switch.`);
  });

  it("a switch given twice exits 2 in every command (probe, demo), naming the flag", async () => {
    for (const argv of [["probe", "smtp://127.0.0.1:1", "--oauth", "--oauth"], ["demo", "-q", "--quiet"]]) {
      const { io, stderr } = memoryIo();
      expect(await main(argv, io), argv.join(" ")).toBe(2);
      expect(stderr()).toContain(`${argv[0]}: --${argv.at(-1)!.replace(/^--/, "")} is given more than once; it is a switch.`);
    }
  });

  it("a repeated flag's values are not echoed in the usage error", async () => {
    const error = await parseSendArgs(["--host", "h.test", "--user", "alice-Secretish", "--user", "bob-Secretish", "--from", "a@b.test", "--to", "c@d.test", "--body", "x"], memoryIo().io).catch((e: unknown) => e);
    expect((error as Error).message).not.toMatch(/Secretish/);
  });

  it("turns --order, --exclude, --no-plus and --channel-binding into the negotiation policy", async () => {
    const r = await parseSendArgs([...required, "--order", "scram-sha-256,PLAIN", "--exclude", "LOGIN", "--exclude", "CRAM-MD5,PLAIN", "--no-plus", "--cleartext", "never"], memoryIo().io);
    expect(r.policy.order).toEqual(["SCRAM-SHA-256", "PLAIN"]);
    expect(r.policy.exclude).toEqual(expect.arrayContaining(["LOGIN", "CRAM-MD5", "PLAIN", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]));
    expect(r.policy.cleartext).toBe("never");
    expect(r.mechanismOptions).toBeUndefined();
    const none = await parseSendArgs([...required, "--channel-binding", "none"], memoryIo().io);
    expect(none.mechanismOptions).toEqual({ scram: { channelBinding: false } });
    expect(none.policy.exclude).toContain("SCRAM-SHA-256-PLUS");
    const typed = await parseSendArgs([...required, "--channel-binding", "tls-server-end-point"], memoryIo().io);
    expect(typed.mechanismOptions).toEqual({ scram: { channelBinding: "tls-server-end-point" } });
    expect((await parseSendArgs([...required, "-m", "plain"], memoryIo().io)).policy.force).toBe("PLAIN");
  });

  it("never reads the password while parsing", async () => {
    const { io, prompts } = memoryIo();
    await parseSendArgs(required, io);
    expect(prompts).toEqual([]);
  });
});

describe("hidden prompt", () => {
  it("refuses to prompt without a terminal and says how to give the password", async () => {
    const input = Object.assign(new PassThrough(), { isTTY: false });
    await expect(promptHidden("Password: ", input, { write: () => true })).rejects.toThrow(/SASLKIT_PASSWORD/);
  });

  it("send exits 2 when there is no password and no terminal", async () => {
    const { io, stderr } = memoryIo();
    const noTty = { ...io, promptSecret: (p: string) => promptHidden(p, io.stdin, io.stderr) };
    expect(await main(["send", ...required], noTty)).toBe(2);
    expect(stderr()).toContain("No password: set SASLKIT_PASSWORD");
  });
});

describe("progress stream", () => {
  it("passes every byte through and reports up to the total", async () => {
    const data = Buffer.alloc(300 * 1024, 7);
    const reports: number[] = [];
    const got: Buffer[] = [];
    await pipeline(
      progressStream(data, (sent, total) => {
        expect(total).toBe(data.length);
        reports.push(sent);
      }),
      new Writable({
        write(chunk: Buffer, _e, done) {
          got.push(chunk);
          done();
        },
      }),
    );
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(reports.at(-1)).toBe(data.length);
    expect(reports).toEqual([...reports].sort((a, b) => a - b));
    expect(reports.length).toBeGreaterThan(2);
  });
});

describe("negotiation report", () => {
  const provider = (name: string, priority: number, extra: Partial<MechanismProvider> = {}): MechanismProvider => ({
    name,
    priority,
    clientFirst: true,
    security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
    needs: [USERNAME, PASSWORD],
    createClient: () => {
      throw new Error("unused");
    },
    ...extra,
  });
  const providers = [provider("HIGH", 800, { security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false } }), provider("LOW", 100), provider("TOKEN", 600, { needs: [TOKEN_KEY] }), provider("UNOFFERED", 900)];

  it("names the choice and gives every other mechanism a reason", () => {
    const plan = planNegotiation(providers, { offered: ["LOW", "HIGH", "TOKEN", "X-UNKNOWN"], credentials: { username: "u", password: "p" }, channel: { secure: true } });
    const lines = formatNegotiation(viewOfPlan(plan), providers);
    expect(lines[0]).toBe("Server offers:  LOW HIGH TOKEN X-UNKNOWN");
    expect(lines[1]).toBe("Chosen:         HIGH (priority 800; mutual authentication)");
    expect(lines).toContain("Not chosen:");
    expect(lines.find((l) => /^ +LOW /.test(l))).toMatch(/LOW +usable, but lower priority \(100\) than HIGH \(800\)/);
    expect(lines.find((l) => /^ +TOKEN /.test(l))).toMatch(/missing-credentials: needs token/);
    expect(lines.find((l) => /^ +X-UNKNOWN /.test(l))).toMatch(/not-installed/);
    expect(lines.at(-1)).toBe("Installed, not offered by the server: UNOFFERED");
  });

  it("reports a failed first attempt when the client fell back", () => {
    const lines = formatNegotiation(
      { offered: ["HIGH", "LOW"], installed: ["HIGH", "LOW"], candidates: ["HIGH", "LOW"], refused: [], chosen: "LOW", attempts: [{ mechanism: "HIGH", error: Object.assign(new Error("HIGH: the server refused: 504."), { code: "mechanism-rejected" }) as never }, { mechanism: "LOW" }] },
      providers,
    );
    expect(lines[1]).toMatch(/^Chosen: +LOW/);
    expect(lines[2]).toMatch(/^Tried first: +HIGH, which failed \(mechanism-rejected\)/);
    expect(lines.join("\n")).not.toMatch(/HIGH +usable/);
  });

  it("formats sizes", () => {
    expect([formatBytes(10), formatBytes(1536), formatBytes(3 * 1024 * 1024)]).toEqual(["10 B", "1.5 KiB", "3.0 MiB"]);
  });
});

describe("main", () => {
  it("prints usage for help (exit 0) and for no command (exit 2), and rejects unknown commands", async () => {
    const help = memoryIo();
    expect(await main(["help"], help.io)).toBe(0);
    expect(help.stdout()).toContain("saslkit send");
    expect(help.stdout()).not.toMatch(/--password/);
    const none = memoryIo();
    expect(await main([], none.io)).toBe(2);
    const unknown = memoryIo();
    expect(await main(["frobnicate"], unknown.io)).toBe(2);
    expect(unknown.stderr()).toContain('unknown command "frobnicate"');
  });
});

describe("terminal output", () => {
  it("redraws progress in place on a terminal, at most ten times a second, and ends the line", () => {
    const writes: string[] = [];
    let now = 0;
    const line = new ProgressLine({ write: (t: string) => void writes.push(t), isTTY: true }, () => now);
    line.update("sending: 1 of 3");
    now = 50;
    line.update("sending: 2 of 3"); // within 100 ms: skipped
    now = 200;
    line.update("sending: 3 of 3\x1b]0;x\x07");
    line.done();
    expect(writes).toEqual(["\r\x1b[2Ksending: 1 of 3", "\r\x1b[2Ksending: 3 of 3\\x1b]0;x\\x07", "\n"]);
  });

  it("off a terminal writes only the final state, once, without carriage returns", () => {
    const writes: string[] = [];
    const line = new ProgressLine({ write: (t: string) => void writes.push(t), isTTY: false });
    line.update("sending: 1 of 2");
    line.update("sending: 2 of 2");
    line.done();
    expect(writes).toEqual(["sending: 2 of 2\n"]);
  });
});

describe("error messages", () => {
  it("show the server's reply once and one full stop", () => {
    const reply = { code: 535, enhanced: "5.7.8", text: "5.7.8 Authentication credentials invalid." };
    const error = Object.assign(new Error("SMTP auth: authentication failed (535 5.7.8 Authentication credentials invalid.)."), { reply });
    const text = formatError(error);
    expect(text.match(/5\.7\.8/g)).toHaveLength(1);
    expect(text).not.toMatch(/(?<!\.)\.\.(?!\.)/);
    const bare = formatError(Object.assign(new Error("SMTP mail: refused.."), { reply }));
    expect(bare).toBe("error: SMTP mail: refused.\nserver said: 535 5.7.8 Authentication credentials invalid.");
    expect(tidySentence("ends twice.. but an ellipsis... stays")).toBe("ends twice. but an ellipsis... stays");
  });

  it("map failures to exit statuses: 4 TLS, 3 authentication, 1 otherwise", () => {
    expect(exitStatusOf(Object.assign(new Error("x"), { code: "tls-failed" }))).toBe(4);
    expect(exitStatusOf(Object.assign(new Error("x"), { phase: "auth", code: "authentication-failed" }))).toBe(3);
    expect(exitStatusOf(new Error("x", { cause: Object.assign(new Error("y"), { code: "CERT_HAS_EXPIRED" }) }))).toBe(4);
    expect(exitStatusOf(Object.assign(new Error("x"), { code: "connect-failed" }))).toBe(1);
  });
});

describe("probe: the TLS-required refusal", () => {
  it("applies when TLS was left to the client, none was obtained and the host is not loopback", () => {
    const base = { tlsOption: undefined, schemeTls: "starttls" as const, secure: false, loopback: false };
    expect(refusedForTls(base)).toBe(true);
    expect(refusedForTls({ ...base, loopback: true })).toBe(false);
    expect(refusedForTls({ ...base, secure: true })).toBe(false);
    expect(refusedForTls({ ...base, tlsOption: "none" })).toBe(false);
    // core's cleartext rule decides, as in the clients: "allow" opts in everywhere, "never" refuses even loopback.
    expect(refusedForTls({ ...base, cleartext: "allow" })).toBe(false);
    expect(refusedForTls({ ...base, loopback: true, cleartext: "never" })).toBe(true);
    expect(tlsRequiredExplanation("pop3").join("\n")).toMatch(/no STLS[\s\S]*SCRAM and CRAM-MD5 too[\s\S]*pop3s:\/\/ \(port 995\)[\s\S]*--tls none/);
  });

  it("treats IPv4-mapped loopback addresses as loopback", () => {
    expect(["127.0.0.1", "::1", "[::1]", "localhost", "::ffff:127.0.0.1", "[::ffff:7f00:1]"].every(isLoopbackHost)).toBe(true);
    expect(["10.0.0.1", "mail.example.org", "::ffff:a00:1"].some(isLoopbackHost)).toBe(false);
  });
});
