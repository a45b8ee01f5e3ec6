/**
 * Fuzzing the protocol parsers (issue 6): SMTP replies (multi-line, enhanced codes, EHLO
 * capabilities), IMAP responses (tagged, untagged, continuations, literals), POP3 lines, the
 * SMTP server's command parsing, and dot-stuffing. Properties: only the project's parse errors
 * escape (MalformedReplyError, ImapParseError), results stay bounded by their input, and the
 * round trips hold (format then parse, stuff then unstuff, encode then tokenize).
 */
import fc from "fast-check";
import { appendFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// Parsers are internal to their packages: imported from source.
import { ImapCapabilities } from "@saslkit/imap";
import { ImapParseError, literalLength, parseRespText, parseResponse, tokenize } from "../packages/imap/src/parser.js";
import { encodeLoginArgument } from "../packages/imap/src/login.js";
import { parseLine, unstuff } from "../packages/pop3/src/reply.js";
import { MAX_REPLY_LINES_FOR_TEST, MalformedReplyError, ReplyParser, dotStuff, formatReply, parseCapabilities, parseReply } from "./hardening/smtp.js";
import { SmtpServer } from "@saslkit/smtp-server";
import { formatReply as serverFormatReply, parseCommand, parsePathArgument } from "../packages/smtp-server/src/commands.js";
import { RawClient, fakePlain, onlyCrlf, referenceMessage } from "../packages/smtp-server/test/helpers.js";
import { fcParams, onlyTypedErrorsSync } from "./hardening/fuzz.js";

/** Protocol-flavoured text: what real servers send, plus the bytes that break naive parsers. */
const wireChar = fc.oneof(
  { arbitrary: fc.constantFrom(..."0123456789 -+*.=[](){}\"\\~:<>@,;AUTHOKNOBADERR"), weight: 5 },
  { arbitrary: fc.constantFrom("\r", "\n", "\0", "\t", "\u00e9", "\u{1F600}", "\x7f"), weight: 1 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 1 }), weight: 2 },
);
const wireText = (maxLength: number) => fc.string({ unit: wireChar, maxLength });

const smtpLineArb = fc.oneof(
  fc.tuple(fc.integer({ min: 100, max: 699 }), fc.constantFrom("-", " ", "", "x"), fc.oneof(fc.constantFrom("", "5.7.8 ", "2.0.0 ", "4.7.0 ", "9.9.9 ", "5.7. ", "5.77777.1 "), wireText(6)), wireText(40)).map(
    ([code, sep, enh, text]) => `${code}${sep}${enh}${text}`,
  ),
  wireText(60),
);

describe("fuzz: SMTP replies", () => {
  it("ReplyParser: any line sequence yields replies or MalformedReplyError, never anything else", () => {
    fc.assert(
      fc.property(fc.array(smtpLineArb, { maxLength: 12 }), (lines) => {
        const parser = new ReplyParser();
        for (const line of lines) {
          let reply;
          try {
            reply = parser.push(line);
          } catch (error) {
            if (!(error instanceof MalformedReplyError)) throw error;
            expect(error.line.length).toBeLessThanOrEqual(201);
            return;
          }
          if (reply) {
            expect(reply.code).toBeGreaterThanOrEqual(200);
            expect(reply.code).toBeLessThan(600);
            if (reply.enhanced) expect(reply.enhanced[0]).toBe(String(reply.code)[0]);
          }
        }
      }),
      fcParams(400),
    );
  });

  it("ReplyParser: a server that never ends its multi-line reply is cut off at the line limit", () => {
    const parser = new ReplyParser();
    let thrown: unknown;
    for (let i = 0; i < MAX_REPLY_LINES_FOR_TEST + 5 && !thrown; i++) {
      try {
        parser.push("250-SIZE 1000");
      } catch (error) {
        thrown = error;
      }
    }
    expect(thrown).toBeInstanceOf(MalformedReplyError);
  });

  it("smtp-server formatReply then smtp parseReply gives back code, enhanced code and lines", () => {
    const lineText = fc.string({ unit: fc.constantFrom(..."abcXYZ0129 .-=<>@[]"), maxLength: 40 }).map((s) => s.trimEnd());
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 599 }),
        fc.option(fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 999 })), { nil: undefined }),
        fc.array(lineText, { minLength: 1, maxLength: 6 }),
        (code, sub, lines) => {
          // RFC 3463 classes are 2, 4 and 5 only: a 3xx reply carries no enhanced code.
          const enhanced = sub && String(code)[0] !== "3" ? `${String(code)[0]}.${sub[0]}.${sub[1]}` : undefined;
          const wire = serverFormatReply(code, enhanced, lines);
          const reply = parseReply(wire.split("\r\n"));
          expect(reply.code).toBe(code);
          expect(reply.lines).toEqual(wire.split("\r\n"));
          if (enhanced) expect(reply.enhanced).toBe(enhanced);
          // The one-line rendering for errors never spans lines.
          expect(formatReply(reply)).not.toMatch(/[\r\n]/);
        },
      ),
      fcParams(300),
    );
  });

  it("parseCapabilities: any EHLO reply yields bounded, upper-case, valid mechanism names", () => {
    const capLine = fc.oneof(
      fc.tuple(fc.constantFrom("AUTH", "AUTH=", "auth", "SIZE", "STARTTLS", "PIPELINING", "8BITMIME", "SMTPUTF8", "X"), wireText(40)).map(([k, v]) => `${k}${k.endsWith("=") ? "" : " "}${v}`),
      wireText(40),
    );
    fc.assert(
      fc.property(fc.array(capLine, { maxLength: 10 }), fc.boolean(), (caps, helo) => {
        const lines = ["mx.example.org", ...caps].map((t, i, all) => `250${i === all.length - 1 ? " " : "-"}${t.replace(/[\r\n]/g, "")}`);
        const reply = onlyTypedErrorsSync(() => parseReply(lines));
        if (!reply) return;
        const cap = parseCapabilities(reply, helo);
        for (const m of cap.auth) expect(m).toMatch(/^[A-Z0-9_-]{1,20}$/);
        expect(new Set(cap.auth).size).toBe(cap.auth.length);
        if (cap.size !== undefined) expect(Number.isFinite(cap.size) && cap.size >= 0).toBe(true);
        if (helo) expect(cap.auth).toEqual([]);
      }),
      fcParams(400),
    );
  });

  it("dotStuff: stuffing then removing the leading dot of each line gives back the body", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom(".", "a", " ", "é"), maxLength: 8 }), { maxLength: 8 }), (lines) => {
        const body = lines.map((l) => `${l}\r\n`).join("");
        const stuffed = dotStuff(body).toString("utf8");
        // No line of the stuffed body is the lone terminator.
        expect(stuffed.split("\r\n").slice(0, -1)).not.toContain(".");
        const back = stuffed
          .split("\r\n")
          .map((l) => (l.startsWith(".") ? l.slice(1) : l))
          .join("\r\n");
        expect(back.startsWith(body)).toBe(true);
      }),
      fcParams(300),
    );
  });
});

/** One IMAP response as the reader hands it over: line texts interleaved with literal bytes. */
const imapPartsArb = fc.oneof(
  fc.tuple(fc.constantFrom("* ", "A1 ", "+ ", "+", "* 12 ", "*", "a.b ", ""), fc.constantFrom("OK ", "NO ", "BAD ", "BYE ", "CAPABILITY ", "FETCH ", "PREAUTH ", "", "EXISTS"), wireText(60)).map(([t, s, r]) => [`${t}${s}${r}`] as (string | Uint8Array)[]),
  fc
    .tuple(fc.constantFrom("* 1 FETCH (BODY[] ", "* LIST () \"/\" ", "A1 OK "), fc.uint8Array({ maxLength: 30 }), fc.integer({ min: -2, max: 2 }), wireText(10))
    .map(([head, bytes, skew, tail]) => [`${head}{${Math.max(0, bytes.length + skew)}}`, bytes, `${tail})`] as (string | Uint8Array)[]),
  fc.array(fc.oneof(wireText(30).map((s) => s as string | Uint8Array), fc.uint8Array({ maxLength: 10 })), { minLength: 1, maxLength: 4 }),
);

describe("fuzz: IMAP responses", () => {
  it("parseResponse: any parts yield a response or ImapParseError", () => {
    fc.assert(
      fc.property(imapPartsArb, (parts) => {
        let response;
        try {
          response = parseResponse(parts);
        } catch (error) {
          if (!(error instanceof ImapParseError)) throw error;
          // The message quotes at most a clipped piece of the input.
          expect(error.message.length).toBeLessThan(300);
          return;
        }
        expect(["continuation", "untagged", "tagged"]).toContain(response.kind);
        if (response.kind === "tagged") expect(["OK", "NO", "BAD"]).toContain(response.status);
        if (response.kind === "untagged") expect(response.type).toMatch(/^[A-Z0-9.=_-]+$/);
      }),
      fcParams(400),
    );
  });

  it("tokenize, parseRespText, literalLength and ImapCapabilities.parse never throw anything but ImapParseError", () => {
    fc.assert(
      fc.property(wireText(80), (text) => {
        onlyTypedErrorsSync(() => tokenize([text]));
        const rt = parseRespText(text);
        expect(text.endsWith(rt.text)).toBe(true);
        const n = literalLength(text);
        if (n !== undefined) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        for (const m of ImapCapabilities.parse(text).mechanisms) expect(m).toMatch(/^[A-Z0-9_-]{1,20}$/);
      }),
      fcParams(400),
    );
  });

  it("tokenize: deeply nested lists and long atoms stay linear (no stack overflow)", () => {
    const deep = `${"(".repeat(20000)}${")".repeat(20000)}`;
    expect(tokenize([deep])).toHaveLength(1);
    expect(() => tokenize(["(".repeat(20000)])).toThrow(ImapParseError);
  });

  it("encodeLoginArgument then tokenize gives back the string (quoted or literal)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.constantFrom([], ["LITERAL+"], ["LITERAL-"]), (value, caps) => {
        const arg = encodeLoginArgument(value, new ImapCapabilities(caps));
        if (value.includes("\0")) {
          expect(arg).toBeUndefined();
          return;
        }
        const parts: (string | Uint8Array)[] = arg!.literal ? [arg!.text, arg!.literal] : [arg!.text];
        const [token] = tokenize(parts);
        const back = typeof token === "string" ? token : Buffer.from(token as Uint8Array).toString("utf8");
        // An unquoted atom that spells NIL would be null; quoting prevents it.
        expect(back).toBe(value);
      }),
      fcParams(300),
    );
  });
});

describe("fuzz: POP3 responses", () => {
  it("parseLine classifies every line and keeps it verbatim", () => {
    const pop3Line = fc.oneof(
      fc.tuple(fc.constantFrom("+OK", "-ERR", "+ok", "-err", "+", "+ ", "-", "+OKAY", ""), fc.constantFrom("", " ", "\t", " [AUTH] ", " [SYS/TEMP] ", " [", " []"), wireText(40)).map(([a, b, c]) => a + b + c),
      wireText(60),
    );
    fc.assert(
      fc.property(pop3Line, (line) => {
        const parsed = parseLine(line);
        if (parsed.kind === "status") {
          expect(parsed.reply.raw).toBe(line);
          expect(["+OK", "-ERR"]).toContain(parsed.reply.status);
          if (parsed.reply.code) expect(parsed.reply.code).not.toMatch(/[\s\]]/);
        } else if (parsed.kind === "continuation") {
          expect(line.startsWith("+")).toBe(true);
        } else {
          expect(parsed.raw).toBe(line);
        }
        const u = unstuff(line);
        if (line === ".") expect(u).toBeUndefined();
        else expect(u === line || `.${u}` === line).toBe(true);
      }),
      fcParams(400),
    );
  });
});

describe("fuzz: SMTP server command parsing (hostile client lines)", () => {
  it("parseCommand and parsePathArgument never throw and return a sentence on bad syntax", () => {
    const cmd = fc.oneof(
      fc.tuple(fc.constantFrom("MAIL ", "RCPT ", "mail ", "AUTH ", "EHLO ", ""), fc.constantFrom("FROM:", "TO:", "from:", ""), fc.constantFrom("<", "", "<\"", " <"), wireText(40), fc.constantFrom(">", "", "> SIZE=10", "> BODY=8BITMIME X", "\">")).map((p) => p.join("")),
      wireText(80),
    );
    fc.assert(
      fc.property(cmd, (line) => {
        const c = parseCommand(line);
        expect(c.verb).toBe(c.verb.toUpperCase());
        for (const kw of ["FROM", "TO"] as const) {
          const path = parsePathArgument(c.args, kw);
          if (typeof path !== "string") {
            expect(typeof path.address).toBe("string");
            for (const k of Object.keys(path.params)) expect(k).toBe(k.toUpperCase());
          }
        }
      }),
      fcParams(400),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The embedded server's DATA and command parsing on the wire, with large, repetitive input
// (issue 10: smuggling, DATA memory, bounded work). One open server in this process, a raw
// client per case; the event-loop stalls and the peak heap seen while these properties run are
// recorded (FUZZ_STATS_FILE, read by scripts/fuzz.mjs into bench/results/fuzz.md).
// ---------------------------------------------------------------------------------------------

describe("fuzz: SMTP server DATA and commands on the wire (large, repetitive input)", () => {
  let server: SmtpServer;
  const stall = monitorEventLoopDelay({ resolution: 10 });
  let peakHeap = 0;
  let sampler: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    // One connection per case, opened faster than closed ones are reaped: the per-client limit is not under test here.
    server = await SmtpServer.start({ mechanisms: [fakePlain], callbacks: {}, requireAuth: false, keepMessages: 3, maxErrors: 1000, maxMessageBytes: 64 * 1024 * 1024, commandTimeoutMs: 10_000, maxConnections: 10_000, maxConnectionsPerClient: 10_000 });
    stall.enable();
    sampler = setInterval(() => (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)), 20);
  });
  afterAll(async () => {
    stall.disable();
    clearInterval(sampler);
    const record = { suite: "smtp-server wire", maxStallMs: Math.round(stall.max / 1e6), p99StallMs: Math.round(stall.percentile(99) / 1e6), peakHeapMiB: Math.round(peakHeap / 1048576) };
    if (process.env.FUZZ_STATS_FILE) appendFileSync(process.env.FUZZ_STATS_FILE, `${JSON.stringify(record)}\n`);
    await server.close();
    // A stall of seconds would mean per-line or quadratic work; the bound is loose for busy CI machines.
    expect(record.maxStallMs).toBeLessThan(2000);
  });

  /** Units a hostile body repeats: bare CR/LF, fake terminators, stuffed dots, long runs. */
  const unit = fc.constantFrom("\r\n", "\n", "\r", ".", "..\r\n", "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n", "\r.\r\n", "a", "x".repeat(200), "MAIL FROM:<e@x.test>\r\n");
  const body = fc.array(fc.tuple(unit, fc.integer({ min: 1, max: 4000 })), { minLength: 1, maxLength: 8 }).map((parts) => {
    let text = `x${parts.map(([u, n]) => u.repeat(n)).join("")}`;
    // No real terminator inside: the body must be one message (a real <CRLF>.<CRLF> would end it),
    // nor one the appended <CRLF>.<CRLF> completes (a body ending in <CRLF>. ends before it).
    while (`${text}\r\n`.includes("\r\n.\r\n")) text = `${text}\r\n`.replaceAll("\r\n.\r\n", "\r\n..\r\n").slice(0, -2);
    return Buffer.from(text, "latin1");
  });

  it("DATA: one message per transfer whatever the body, equal to the RFC reference, CRLF only; the next command answers next", async () => {
    await fc.assert(
      fc.asyncProperty(body, async (bytes) => {
        const client = await RawClient.connect(server.port);
        try {
          await client.reply();
          client.send("EHLO f.test\r\nMAIL FROM:<a@f.test>\r\nRCPT TO:<b@f.test>\r\nDATA\r\n");
          for (let i = 0; i < 4; i++) await client.reply();
          const before = server.messages.length;
          const wire = Buffer.concat([bytes, Buffer.from("\r\n.\r\n")]);
          client.send(wire);
          const longest = Math.max(...wire.toString("latin1").split(/\r\n|\r|\n/).map((l) => l.length));
          const reply = (await client.reply(10_000))[0];
          if (longest > 65536) {
            // Past the line limit the server says so and closes; nothing is stored.
            expect(reply).toBe("500 5.5.2 Line too long");
            expect(server.messages.length).toBe(before);
            return;
          }
          expect(reply).toMatch(/^250 2\.0\.0 OK queued/);
          expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
          const message = server.messages.at(-1)!;
          expect(server.messages.length === before + 1 || server.messages.length === 3).toBe(true);
          expect(message.data.equals(referenceMessage(wire)!.message)).toBe(true);
          expect(onlyCrlf(message.data)).toBe(true);
        } finally {
          client.destroy();
        }
      }),
      fcParams(40, 20_000),
    );
  }, 120_000);

  it("BDAT: a chunk of any bytes arrives verbatim and is never read as commands", async () => {
    await fc.assert(
      fc.asyncProperty(body, async (bytes) => {
        const client = await RawClient.connect(server.port);
        try {
          await client.reply();
          client.send("EHLO f.test\r\nMAIL FROM:<a@f.test> BODY=BINARYMIME\r\nRCPT TO:<b@f.test>\r\n");
          for (let i = 0; i < 3; i++) await client.reply();
          client.send(Buffer.concat([Buffer.from(`BDAT ${bytes.length} LAST\r\n`), bytes]));
          expect((await client.reply(10_000))[0]).toMatch(/^250 2\.0\.0 OK queued/);
          expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
          expect(server.messages.at(-1)!.data.equals(bytes)).toBe(true);
        } finally {
          client.destroy();
        }
      }),
      fcParams(40, 20_000),
    );
  }, 120_000);

  it("commands: long, repetitive and bare-CR/LF lines get one well-formed reply each, or 500 and close past the line limit", async () => {
    const piece = fc.constantFrom("MAIL FROM:<", "RCPT TO:<", "a", "@", ">", " SIZE=1", " X=", "\r", "\"", "<", " ", "NOOP", "\u00e9");
    const line = fc.array(fc.tuple(piece, fc.integer({ min: 1, max: 3000 })), { minLength: 1, maxLength: 6 }).map((parts) => parts.map(([p, n]) => p.repeat(n)).join(""));
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 6 }), fc.boolean(), async (lines, bareLf) => {
        const client = await RawClient.connect(server.port);
        try {
          await client.reply();
          await client.command("EHLO f.test");
          for (const l of lines) {
            client.send(`${l}${bareLf ? "\n" : "\r\n"}`);
            const reply = await client.reply(10_000).catch(() => undefined);
            if (reply === undefined) {
              expect(Buffer.byteLength(l)).toBeGreaterThan(65536);
              return;
            }
            expect(reply.at(-1)).toMatch(/^[2-5]\d\d /);
            if (/^500 5\.5\.2 Line too long/.test(reply.at(-1)!)) return;
            if (/^(354|221)/.test(reply.at(-1)!)) return;
          }
        } finally {
          client.destroy();
        }
      }),
      fcParams(40, 20_000),
    );
  }, 120_000);
});
