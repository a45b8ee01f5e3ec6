/**
 * A fake SMTP server for the pool tests (smtp-pool-faults, smtp-pool-hostile): a real TCP listener
 * on 127.0.0.1, any number of connections, just enough ESMTP for the client (PIPELINING; AUTH
 * PLAIN that accepts anyone; MAIL, RCPT, DATA, RSET, NOOP, QUIT; 502 to anything else). It answers
 * all the lines of one read in one write, as a pipelining server does, and records every message
 * it took by Message-ID: the ground truth for the delivery rule, which `checkExactlyOnce` checks.
 *
 * Each test file brings its fault model by overriding `step`, which is asked at every phase of
 * every connection what to do instead of the normal reply:
 * - `undefined`: the normal reply;
 * - `{ reply }`: that reply instead;
 * - `{ close }`: the replies due in this read, then `close`, then FIN;
 * - `"drop"`: the replies due in this read, then the socket destroyed;
 * - `"stall"`: the replies due in this read, then nothing ever again (later lines are read and
 *   ignored; at the greeting: no greeting).
 * After `close` or `"drop"` the rest of that read is not looked at (a later read still is).
 *
 * Delivered: a message counts at its final dot unless the step for that dot answers a 4xx (a
 * `reply` or `close` starting with 4). A dot answered by nothing ("drop", "stall") counts: the
 * worst case for the client's "at most once".
 */
import net from "node:net";
import { expect } from "vitest";
import type { SendResult, SmtpError } from "@saslkit/smtp";

/** The points of a session at which `step` is asked. */
export type Phase = "greet" | "ehlo" | "auth" | "mail" | "data" | "dot";

/** What the server does at a phase instead of the normal reply (see the file comment). */
export type Step = { readonly reply: string } | { readonly close: string } | "drop" | "stall";

/** Where a session is: its connection (from 1) and its current message (from 1 over all connections, set at MAIL; 0 before its first). */
export interface At {
  readonly connection: number;
  readonly message: number;
}

export class FakeSmtpServer {
  /** Message-ID -> how many times it was taken. */
  readonly delivered = new Map<string, number>();
  readonly sockets = new Set<net.Socket>();
  connections = 0;
  /** Most connections open at the same time. */
  maxOpen = 0;
  /** MAIL commands seen, over all connections. */
  messages = 0;
  /** AUTH commands seen, over all connections. */
  authAttempts = 0;
  port = 0;
  #server: net.Server | undefined;

  /** `name` appears in the greeting and the EHLO reply. */
  constructor(readonly name: string) {}

  /** What to do at `phase` instead of the normal reply; `undefined` for the normal reply. */
  protected step(_phase: Phase, _at: At): Step | undefined {
    return undefined;
  }

  /** Listens on 127.0.0.1 at `port` (0: any free port, then in `this.port`). */
  async start(port = 0): Promise<void> {
    this.#server = net.createServer((s) => this.#session(s));
    await new Promise<void>((resolve) => this.#server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
  }

  /** Stops listening and drops every open connection (a server going down under load). */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server = undefined;
  }

  #session(socket: net.Socket): void {
    const connection = ++this.connections;
    let message = 0;
    this.sockets.add(socket);
    this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    const at = (): At => ({ connection, message });
    let stalled = false;
    /** Carries out a step other than `reply` after the replies due (`out`). */
    const act = (s: Exclude<Step, { reply: string }>, out: string): void => {
      if (s === "stall") {
        if (out) socket.write(out);
        stalled = true;
      } else if (s === "drop") {
        if (out) socket.write(out);
        socket.destroy();
      } else {
        socket.write(out + s.close);
        socket.end();
      }
    };

    const greet = this.step("greet", at());
    if (greet === undefined || typeof greet === "object") {
      const text = greet === undefined ? `220 ${this.name} ESMTP\r\n` : "reply" in greet ? greet.reply : greet.close;
      if (text) socket.write(text);
      if (greet && "close" in greet) return void socket.end();
    } else {
      act(greet, "");
      if (greet === "drop") return;
    }

    let buf = "";
    let inData = false;
    let body: string[] = [];
    socket.on("data", (chunk) => {
      if (stalled) return;
      buf += chunk.toString("latin1");
      let out = "";
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let s: Step | undefined;
        let normal: string;
        if (inData) {
          if (line !== ".") {
            body.push(line.startsWith(".") ? line.slice(1) : line);
            continue;
          }
          inData = false;
          const id = /Message-ID: <([^>]+)>/.exec(body.join("\r\n"))?.[1] ?? "?";
          s = this.step("dot", at());
          const answer = s === undefined || typeof s !== "object" ? "" : "reply" in s ? s.reply : s.close;
          if (!answer.startsWith("4")) this.delivered.set(id, (this.delivered.get(id) ?? 0) + 1);
          normal = "250 2.0.0 queued\r\n";
        } else {
          const cmd = line.slice(0, 4).toUpperCase();
          if (cmd === "EHLO") {
            s = this.step("ehlo", at());
            normal = `250-${this.name}\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n`;
          } else if (cmd === "AUTH") {
            this.authAttempts++;
            s = this.step("auth", at());
            normal = "235 2.7.0 ok\r\n";
          } else if (cmd === "MAIL") {
            message = ++this.messages;
            s = this.step("mail", at());
            normal = "250 2.1.0 ok\r\n";
          } else if (cmd === "RCPT") normal = "250 2.1.5 ok\r\n";
          else if (cmd === "DATA") {
            s = this.step("data", at());
            inData = s === undefined; // a reply instead of 354 refuses the body
            body = [];
            normal = "354 go ahead\r\n";
          } else if (cmd === "RSET" || cmd === "NOOP") normal = "250 ok\r\n";
          else if (cmd === "QUIT") return void socket.end(`${out}221 bye\r\n`);
          else normal = "502 no\r\n";
        }
        if (s === undefined) out += normal;
        else if (typeof s === "object" && "reply" in s) out += s.reply;
        else return act(s, out);
      }
      if (out) socket.write(out);
    });
  }
}

/** One send's outcome, by Message-ID. */
export interface Settled {
  readonly id: string;
  readonly result?: SendResult;
  readonly error?: SmtpError;
}

/** `p`'s outcome as a `Settled` (never rejects). */
export function settle(p: Promise<SendResult>, id: string): Promise<Settled> {
  return p.then(
    (result) => ({ id, result }),
    (error: SmtpError) => ({ id, error }),
  );
}

/**
 * The delivery rule, checked message by message against what `s` took: none twice, a resolved
 * send exactly once, a failure other than `outcome-unknown` never.
 */
export function checkExactlyOnce(s: FakeSmtpServer, settled: readonly Settled[]): void {
  for (const r of settled) {
    const n = s.delivered.get(r.id) ?? 0;
    expect(n, `${r.id} delivered ${n} times`).toBeLessThanOrEqual(1);
    if (r.result) expect(n, `${r.id} resolved but was not delivered`).toBe(1);
    else if (r.error?.code !== "outcome-unknown") expect(n, `${r.id} failed (${r.error?.code}) but was delivered`).toBe(0);
  }
}
