/**
 * Terminal safety (issue 10 item 14; OpenSSH CVE-2019-6109 is the model): a hostile server puts
 * OSC (window title, clipboard, hyperlinks), CSI (clear screen, colours), BEL, BS, CR and 8-bit C1
 * controls into its greeting, capabilities and replies. Whatever `saslkit probe` and `saslkit send`
 * print (report, --debug transcript, errors), none of it reaches stdout or stderr raw: each control
 * character is shown as a visible escape instead.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main, terminalSafe } from "@saslkit/cli";
import { memoryIo } from "./support/cli-io.js";

const OSC_TITLE = "\x1b]0;pwned\x07";
const OSC_CLIPBOARD = "\x1b]52;c;ZXZpbA==\x07";
const CSI_CLEAR = "\x1b[2J\x1b[H";
const C1_CSI = "\u009b31m";
const C1_OSC = "\u009d0;x\u009c";
const HOSTILE = `${OSC_TITLE}${CSI_CLEAR}${C1_CSI}\b\b\r${C1_OSC}\u202e`;

/** Any control character a terminal acts on: C0 except TAB/LF, DEL, C1, bidi overrides. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

function lineServer(onLine: (socket: Socket, line: string) => void, greeting: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.setEncoding("utf8");
    socket.write(greeting);
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        onLine(socket, line);
      }
    });
    socket.on("error", () => undefined);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let smtp: Server;
let pop3: Server;
const portOf = (s: Server) => (s.address() as { port: number }).port;

beforeAll(async () => {
  smtp = await lineServer((socket, line) => {
    const verb = line.split(" ")[0]!.toUpperCase();
    if (verb === "EHLO") socket.write(`250-evil.test ${HOSTILE}\r\n250-X-${OSC_CLIPBOARD}\r\n250-AUTH PLAIN LOGIN ${CSI_CLEAR}\r\n250 8BITMIME\r\n`);
    else if (verb === "AUTH") socket.write(`535 5.7.8 denied ${HOSTILE} ${OSC_CLIPBOARD}\r\n`);
    else if (verb === "QUIT") socket.end(`221 bye ${OSC_TITLE}\r\n`);
    else socket.write(`500 ${HOSTILE}\r\n`);
  }, `220 evil.test ESMTP ${HOSTILE}\r\n`);
  pop3 = await lineServer((socket, line) => {
    const verb = line.split(" ")[0]!.toUpperCase();
    if (verb === "CAPA") socket.write(`+OK ${OSC_TITLE}\r\nSASL PLAIN ${CSI_CLEAR}\r\nUSER\r\nX-${C1_OSC}\r\n.\r\n`);
    else if (verb === "QUIT") socket.end(`+OK bye ${HOSTILE}\r\n`);
    else socket.write(`-ERR ${HOSTILE}\r\n`);
  }, `+OK evil POP3 ${HOSTILE}\r\n`);
});

afterAll(async () => {
  await Promise.all([smtp, pop3].map((s) => new Promise((r) => s.close(r))));
});

function expectNoRawControls(text: string): void {
  const found = RAW_CONTROL.exec(text);
  expect(found, found ? `raw control U+${found[0].codePointAt(0)!.toString(16).padStart(4, "0")} near ${JSON.stringify(text.slice(Math.max(0, found.index - 30), found.index + 30))}` : "").toBeNull();
}

describe("terminalSafe", () => {
  it("shows every C0 (but TAB and LF), DEL, C1 and bidi override as a visible escape", () => {
    expect(terminalSafe(`a${OSC_TITLE}b`)).toBe("a\\x1b]0;pwned\\x07b");
    expect(terminalSafe("\u009b31m\u009d\r\b\x7f\u202e")).toBe("\\x9b31m\\x9d\\x0d\\x08\\x7f\\u{202e}");
    expect(terminalSafe("tab\tand\nnewline stay; ünïcödé too")).toBe("tab\tand\nnewline stay; ünïcödé too");
    expectNoRawControls(terminalSafe(HOSTILE + OSC_CLIPBOARD + C1_OSC));
  });
});

describe("a hostile server's escapes never reach the terminal raw", () => {
  it("saslkit probe smtp:// --debug: greeting, capabilities, transcript", async () => {
    const { io, stdout, stderr } = memoryIo();
    await main(["probe", `smtp://127.0.0.1:${portOf(smtp)}`, "--tls", "none", "--debug"], io);
    const all = stdout() + stderr();
    expect(all).toContain("evil.test ESMTP"); // the greeting was printed ...
    expect(all).toContain("\\x1b]0;pwned\\x07"); // ... with its escapes made visible
    expectNoRawControls(stdout());
    expectNoRawControls(stderr());
  });

  it("saslkit send --debug: the refusal reply in the transcript and in the error", async () => {
    const { io, stdout, stderr } = memoryIo({ env: { SASLKIT_PASSWORD: "pw-123" } });
    const status = await main(["send", "--host", "127.0.0.1", "--port", String(portOf(smtp)), "--tls", "none", "--user", "u", "--from", "a@b.test", "--to", "c@d.test", "--body", "x", "--mechanism", "PLAIN", "--debug"], io);
    expect(status).toBe(3);
    expect(stderr()).toContain("535");
    expect(stderr()).toContain("\\x1b]52;c;");
    expectNoRawControls(stdout());
    expectNoRawControls(stderr());
  });

  it("saslkit probe pop3://: greeting and CAPA", async () => {
    const { io, stdout, stderr } = memoryIo();
    await main(["probe", `pop3://127.0.0.1:${portOf(pop3)}`, "--tls", "none", "--debug"], io);
    expect(stdout() + stderr()).toContain("evil POP3");
    expectNoRawControls(stdout());
    expectNoRawControls(stderr());
  });
});
