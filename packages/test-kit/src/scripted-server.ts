/**
 * A real TCP server on 127.0.0.1 that replays a recorded transcript (STYLE.md practice 12), for
 * adapter unit tests and fault injection.
 *
 * Script format, one step per line (blank lines and lines starting with `#` are ignored):
 * - `S: text`   send `text` + CRLF. Consecutive `S:` lines go out in one write, as real servers
 *               send multi-line replies. Trailing spaces are kept (`S: 334 ` is an empty challenge).
 * - `C: text`   expect the client's next line to be exactly `text`. A trailing `*` matches any
 *               rest (`C: AUTH PLAIN *`); `C: *` alone is the literal SASL cancel line; `\*` at
 *               the end is a literal star.
 * - `!close`    close the connection (FIN) and end the script.
 * - `!stall`    send nothing more; wait until the client closes (lines it sends are recorded).
 * - `!starttls` upgrade to TLS as the server (needs `options.tls`).
 * - `!drip [ms]` send the next `S:` line byte by byte, `ms` apart (default 20).
 * - `!sleep ms` wait.
 * - `!data`     read client lines up to and including a lone `.` (a DATA body), recording them.
 * - `!raw data` send bytes as they are: `0x` + hex, or text with `\r`, `\n`, `\t`, `\\`, `\xHH` escapes.
 * When the script ends the server closes the connection. The first mismatch, or the client
 * closing while a line is expected, fails the script: `done()` rejects and the connection is destroyed.
 * Only the first connection runs the script; later ones are closed at once.
 */
import net from "node:net";
import tls from "node:tls";
import { Deadline, LineSocket, type TranscriptEntry } from "@saslkit/transport";

export type ScriptStep =
  | { readonly kind: "send"; readonly text: string }
  | { readonly kind: "expect"; readonly text: string }
  | { readonly kind: "close" }
  | { readonly kind: "stall" }
  | { readonly kind: "starttls" }
  | { readonly kind: "drip"; readonly delayMs: number }
  | { readonly kind: "sleep"; readonly ms: number }
  | { readonly kind: "data" }
  | { readonly kind: "raw"; readonly bytes: Buffer };

export interface ScriptedServerOptions {
  /** Key and certificate for `!starttls` and implicit TLS. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer; requestCert?: boolean };
  /** Wrap the connection in TLS from the first byte (SMTPS/IMAPS). */
  implicitTls?: boolean;
  /** How long each expected client line may take. Default 10000 ms. */
  stepTimeoutMs?: number;
  /** Longest client line accepted. Default 1 MiB (so long AUTH lines can be checked). */
  maxLineBytes?: number;
}

export interface ScriptedServer {
  readonly port: number;
  readonly host: "127.0.0.1";
  /** Resolves when the script ran to its end; rejects with the first mismatch. */
  done(): Promise<void>;
  /** Client lines the script read, in order. */
  readonly received: string[];
  /**
   * Everything in arrival order: client lines as their bytes arrived (before the script read
   * them), server lines as they were written. A switch from `S` to `C` is one client round trip.
   */
  readonly flow: TranscriptEntry[];
  /** Number of client round trips seen: how many times the flow switches from `S` to `C`. */
  roundTrips(): number;
  close(): Promise<void>;
}

function unescape(text: string): Buffer {
  if (text.startsWith("0x")) return Buffer.from(text.slice(2), "hex");
  const out = text.replace(/\\(x[0-9a-fA-F]{2}|r|n|t|\\)/g, (_m, e: string) =>
    e === "r" ? "\r" : e === "n" ? "\n" : e === "t" ? "\t" : e === "\\" ? "\\" : String.fromCharCode(parseInt(e.slice(1), 16)),
  );
  return Buffer.from(out, "latin1");
}

/** Parses the text script format above into steps. Throws on an unknown line. */
export function parseScript(script: string): ScriptStep[] {
  const steps: ScriptStep[] = [];
  for (const [i, raw] of script.split(/\r?\n/).entries()) {
    const line = raw.replace(/^\s+/, "");
    if (line.trim() === "" || line.startsWith("#")) continue;
    let m: RegExpMatchArray | null;
    if ((m = /^S:(?: (.*))?$/.exec(line))) steps.push({ kind: "send", text: m[1] ?? "" });
    else if ((m = /^C:(?: (.*))?$/.exec(line))) steps.push({ kind: "expect", text: m[1] ?? "" });
    else if (line.trim() === "!close") steps.push({ kind: "close" });
    else if (line.trim() === "!stall") steps.push({ kind: "stall" });
    else if (line.trim() === "!starttls") steps.push({ kind: "starttls" });
    else if (line.trim() === "!data") steps.push({ kind: "data" });
    else if ((m = /^!drip(?:\s+(\d+))?\s*$/.exec(line))) steps.push({ kind: "drip", delayMs: Number(m[1] ?? 20) });
    else if ((m = /^!sleep\s+(\d+)\s*$/.exec(line))) steps.push({ kind: "sleep", ms: Number(m[1]) });
    else if ((m = /^!raw (.*)$/.exec(line))) steps.push({ kind: "raw", bytes: unescape(m[1]!) });
    else throw new Error(`Script line ${i + 1} is not a step: ${JSON.stringify(raw)}`);
  }
  return steps;
}

/** True when the client line `got` matches the script's `C:` text. */
export function matchesExpected(expected: string, got: string): boolean {
  if (expected === "*") return got === "*";
  if (expected.endsWith("\\*")) return got === `${expected.slice(0, -2)}*`;
  if (expected.endsWith("*")) return got.startsWith(expected.slice(0, -1));
  return got === expected;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Starts a scripted server on 127.0.0.1 with an ephemeral port. See the module comment for the format. */
export async function startScriptedServer(script: string | ScriptStep[], options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const steps = typeof script === "string" ? parseScript(script) : script;
  const received: string[] = [];
  const flow: TranscriptEntry[] = [];
  const stepTimeout = options.stepTimeoutMs ?? 10000;
  const sockets = new Set<net.Socket>();
  let resolveDone!: () => void;
  let rejectDone!: (error: Error) => void;
  const donePromise = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  donePromise.catch(() => undefined); // a test that never awaits done() must not crash the run
  let started = false;

  const run = async (line: LineSocket): Promise<void> => {
    let partial = "";
    line.onReceive = (chunk) => {
      partial += chunk.toString("utf8");
      const parts = partial.split("\n");
      partial = parts.pop()!;
      for (const p of parts) flow.push({ direction: "C", text: p.endsWith("\r") ? p.slice(0, -1) : p });
    };
    let pending: string[] = [];
    let dripMs: number | undefined;
    const flush = async () => {
      if (!pending.length) return;
      const lines = pending;
      pending = [];
      for (const text of lines) flow.push({ direction: "S", text });
      await line.write(lines.map((l) => `${l}\r\n`).join(""));
    };
    for (const [index, step] of steps.entries()) {
      const where = `script step ${index + 1}`;
      if (step.kind === "send") {
        if (dripMs !== undefined) {
          await flush();
          const bytes = Buffer.from(`${step.text}\r\n`);
          flow.push({ direction: "S", text: step.text });
          for (const byte of bytes) {
            await line.write(Buffer.of(byte));
            await sleep(dripMs);
          }
          dripMs = undefined;
        } else pending.push(step.text);
        continue;
      }
      await flush();
      switch (step.kind) {
        case "expect": {
          let got: string;
          try {
            got = await line.readLine(Deadline.in(stepTimeout));
          } catch (error) {
            throw new Error(`${where}: expected "C: ${step.text}" but ${(error as Error).message}`);
          }
          received.push(got);
          if (!matchesExpected(step.text, got)) throw new Error(`${where}: expected "C: ${step.text}", got "C: ${got.length > 200 ? `${got.slice(0, 200)}…` : got}"`);
          break;
        }
        case "close":
          await line.close();
          return;
        case "stall":
          for (;;) {
            try {
              received.push(await line.readLine(Deadline.in(60000)));
            } catch {
              return;
            }
          }
        case "starttls":
          if (!options.tls) throw new Error(`${where}: !starttls needs options.tls`);
          await line.acceptTls(options.tls, Deadline.in(stepTimeout));
          break;
        case "drip":
          dripMs = step.delayMs;
          break;
        case "sleep":
          await sleep(step.ms);
          break;
        case "data":
          for (;;) {
            let got: string;
            try {
              got = await line.readLine(Deadline.in(stepTimeout));
            } catch (error) {
              throw new Error(`${where}: expected message data but ${(error as Error).message}`);
            }
            received.push(got);
            if (got === ".") break;
          }
          break;
        case "raw":
          flow.push({ direction: "S", text: step.bytes.toString("latin1") });
          await line.write(step.bytes);
          break;
      }
    }
    await flush();
    await line.close();
  };

  const onConnection = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    if (started) {
      socket.destroy();
      return;
    }
    started = true;
    const line = LineSocket.accept(socket, { maxLineBytes: options.maxLineBytes ?? 1 << 20 });
    run(line).then(resolveDone, (error: Error) => {
      line.destroy();
      rejectDone(error);
    });
  };

  const server = options.implicitTls
    ? (() => {
        if (!options.tls) throw new Error("implicitTls needs options.tls");
        return tls.createServer({ key: options.tls.key, cert: options.tls.cert, ...(options.tls.ca ? { ca: options.tls.ca } : {}), requestCert: options.tls.requestCert ?? false, rejectUnauthorized: false }, onConnection);
      })()
    : net.createServer(onConnection);
  if (options.implicitTls) server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    host: "127.0.0.1",
    done: () => donePromise,
    received,
    flow,
    roundTrips() {
      let n = 0;
      let last: string | undefined = "S";
      for (const entry of flow) {
        if (entry.direction === "C" && last === "S") n++;
        last = entry.direction;
      }
      return n;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
