/**
 * A misbehaving mail server for fault injection (issue 6), on 127.0.0.1 with an ephemeral port.
 *
 * Each protocol (SMTP, IMAP, POP3) is a small honest responder split into named phases; a `Fault`
 * picks one phase and replaces the honest answer there with a misbehaviour: close the connection,
 * stall forever, answer byte by byte, send a 1 MB line, send garbage, send a wrong status, or
 * loop on continuation requests. The server records what the client sent and tells the test when
 * the client's socket closed, so tests can assert the client freed it.
 *
 * Built on node:net rather than the test kit's startScriptedServer because faults here depend on
 * what the client sends (an unbounded `334` loop, "close at the N-th line of DATA").
 */
import net from "node:net";
import tls from "node:tls";

export type FaultAction = "close" | "stall" | "drip" | "huge" | "garbage" | "wrong-code" | "loop" | "tls-garbage" | "tls-reset";

export interface Fault {
  readonly phase: string;
  readonly action: FaultAction;
}

export interface HostileServer {
  readonly port: number;
  /** Every line clients sent, in order, over all connections. */
  readonly received: string[];
  /** Phases the server reached, in order (the fault's phase is marked `!phase`). */
  readonly phases: string[];
  /** Resolves when every accepted connection has closed (the client freed its socket). */
  allClosed(timeoutMs?: number): Promise<void>;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** One connection as the protocol responders see it. */
export interface Conn {
  send(text: string): void;
  /** Applies `fault` if it targets `phase`; returns true when it did (the honest answer must be skipped). */
  fault(phase: string, honest: string): boolean;
  /** Upgrades to TLS (STARTTLS), unless the fault says otherwise. */
  startTls(): void;
  readonly state: Record<string, unknown>;
}

export type Responder = {
  greet(conn: Conn): void;
  line(conn: Conn, line: string): void;
};

export interface HostileOptions {
  readonly fault?: Fault;
  readonly tls?: { key: string; cert: string };
  /** Implicit TLS from the first byte. */
  readonly implicitTls?: boolean;
}

const HUGE = "x".repeat(1 << 20);

export async function startHostileServer(responder: Responder, options: HostileOptions = {}): Promise<HostileServer> {
  const received: string[] = [];
  const phases: string[] = [];
  const open = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  let waiters: (() => void)[] = [];
  const settle = () => {
    if (open.size === 0) {
      for (const w of waiters) w();
      waiters = [];
    }
  };

  const handle = (raw: net.Socket) => {
    accepted++;
    let socket: net.Socket = raw;
    open.add(raw);
    raw.on("error", () => undefined);
    raw.once("close", () => {
      open.delete(raw);
      settle();
    });
    let buffer = "";
    let stalled = false;
    // While a reply drips out byte by byte, later replies wait their turn: a server answers
    // pipelined commands in order (RFC 2920), it never interleaves two replies.
    let dripping: string[] | undefined;
    const write = (text: string) => {
      if (dripping) dripping.push(text);
      else if (!socket.destroyed && socket.writable) socket.write(text);
    };
    const conn: Conn = {
      state: {},
      send: (text) => write(`${text}\r\n`),
      fault(phase, honest) {
        const f = options.fault;
        if (!f || f.phase !== phase) {
          phases.push(phase);
          return false;
        }
        phases.push(`!${phase}`);
        switch (f.action) {
          case "close":
            socket.destroy();
            break;
          case "stall":
            stalled = true;
            break;
          case "drip": {
            const bytes = Buffer.from(`${honest}\r\n`);
            let i = 0;
            dripping = [];
            const next = () => {
              if (socket.destroyed) return;
              if (i >= bytes.length) {
                const queued = dripping ?? [];
                dripping = undefined;
                for (const text of queued) write(text);
                return;
              }
              socket.write(bytes.subarray(i, i + 1));
              i++;
              const t = setTimeout(() => {
                timers.delete(t);
                next();
              }, 1);
              timers.add(t);
            };
            next();
            break;
          }
          case "huge":
            write(`${honest.slice(0, 4)}${HUGE}\r\n`);
            break;
          case "garbage":
            write("\u0000\u00ffHELLO garbage \u001b[31m\r\n");
            break;
          case "wrong-code":
            write(`${conn.state["wrong"] ?? "199 what"}\r\n`);
            break;
          case "loop":
            conn.state["loop"] = true;
            write(`${conn.state["continuation"] ?? "334 "}\r\n`);
            break;
          case "tls-garbage":
            write(`${honest}\r\n`);
            stalled = true;
            setImmediate(() => socket.write(Buffer.from("this is not a TLS server hello\r\n".repeat(4))));
            break;
          case "tls-reset":
            write(`${honest}\r\n`);
            stalled = true;
            setImmediate(() => socket.destroy());
            break;
        }
        return true;
      },
      startTls() {
        if (!options.tls) throw new Error("startTls needs options.tls");
        stalled = true;
        socket.removeAllListeners("data");
        const secure = new tls.TLSSocket(socket, { isServer: true, key: options.tls.key, cert: options.tls.cert });
        secure.on("error", (e) => process.env.HOSTILE_DEBUG && console.error("hostile tls", e));
        secure.on("secure", () => {
          stalled = false;
          socket = secure;
          secure.on("data", onData);
        });
      },
    };
    const onData = (chunk: Buffer) => {
      if (stalled) {
        // A stalled server still reads (and records) what arrives, but never answers.
        received.push(...chunk.toString("latin1").split("\r\n").filter((l) => l));
        return;
      }
      buffer += chunk.toString("latin1");
      let at: number;
      while ((at = buffer.indexOf("\r\n")) >= 0 && !stalled && !socket.destroyed) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        received.push(line);
        if (conn.state["loop"]) {
          // The client answered a looping continuation: ask again, forever (the client must give up).
          if (line === "*") conn.state["loop"] = false;
          else {
            write(`${conn.state["continuation"] ?? "334 "}\r\n`);
            continue;
          }
        }
        responder.line(conn, line);
      }
    };
    raw.on("data", onData);
    responder.greet(conn);
  };

  const server = options.implicitTls
    ? tls.createServer({ key: options.tls!.key, cert: options.tls!.cert }, handle)
    : net.createServer(handle);
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received,
    phases,
    connections: () => accepted,
    allClosed(timeoutMs = 2000) {
      if (open.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${open.size} client connection(s) still open ${timeoutMs} ms after the client gave up`)), timeoutMs);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    close() {
      for (const t of timers) clearTimeout(t);
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Base64 helper for responders. */
export const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

/**
 * SMTP (RFC 5321 / 4954). Phases: greeting, ehlo, starttls, auth, auth-round (LOGIN's second
 * challenge), mail, rcpt, data (the 354), body (while the message arrives), final (the reply
 * after the dot), quit.
 */
export function smtpResponder(opts: { caps?: readonly string[]; starttls?: boolean } = {}): Responder {
  const caps = opts.caps ?? ["PIPELINING", "AUTH PLAIN LOGIN"];
  return {
    greet(c) {
      if (!c.fault("greeting", "220 mx.hostile.test ESMTP")) c.send("220 mx.hostile.test ESMTP");
    },
    line(c, line) {
      const upper = line.toUpperCase();
      if (c.state["inData"]) {
        if (line === ".") {
          c.state["inData"] = false;
          if (!c.fault("final", "250 2.0.0 Ok: queued as HOSTILE1")) c.send("250 2.0.0 Ok: queued as HOSTILE1");
        } else if (!c.state["bodySeen"]) {
          c.state["bodySeen"] = true;
          c.fault("body", "");
        }
        return;
      }
      if (c.state["authStep"] !== undefined) {
        const step = c.state["authStep"] as number;
        if (line === "*") {
          c.state["authStep"] = undefined;
          c.send("501 5.7.0 Authentication cancelled");
        } else if (step === 1) {
          c.state["authStep"] = 2;
          if (!c.fault("auth-round", "334 UGFzc3dvcmQ6")) c.send("334 UGFzc3dvcmQ6");
        } else {
          c.state["authStep"] = undefined;
          c.send("235 2.7.0 Authentication successful");
        }
        return;
      }
      if (upper.startsWith("EHLO ")) {
        const tlsCaps = opts.starttls && !c.state["secure"] ? ["STARTTLS"] : [];
        const all = ["mx.hostile.test", ...tlsCaps, ...caps];
        const text = all.map((t, i) => `250${i === all.length - 1 ? " " : "-"}${t}`).join("\r\n");
        c.state["wrong"] = "354 go ahead";
        if (!c.fault("ehlo", text)) c.send(text);
      } else if (upper === "STARTTLS") {
        if (!c.fault("starttls", "220 2.0.0 Ready to start TLS")) {
          c.send("220 2.0.0 Ready to start TLS");
          c.state["secure"] = true;
          c.startTls();
        }
      } else if (upper.startsWith("AUTH PLAIN")) {
        c.state["continuation"] = "334 ";
        c.state["wrong"] = "250 fine";
        if (!c.fault("auth", "235 2.7.0 Authentication successful")) c.send("235 2.7.0 Authentication successful");
      } else if (upper.startsWith("AUTH LOGIN")) {
        c.state["continuation"] = "334 VXNlcm5hbWU6";
        c.state["wrong"] = "250 fine";
        if (!c.fault("auth", "334 VXNlcm5hbWU6")) {
          c.state["authStep"] = 1;
          c.send("334 VXNlcm5hbWU6");
        }
      } else if (upper.startsWith("AUTH ")) {
        c.send("504 5.5.4 Unrecognized authentication type");
      } else if (upper.startsWith("MAIL FROM")) {
        c.state["wrong"] = "354 what";
        if (!c.fault("mail", "250 2.1.0 Ok")) c.send("250 2.1.0 Ok");
      } else if (upper.startsWith("RCPT TO")) {
        if (!c.fault("rcpt", "250 2.1.5 Ok")) c.send("250 2.1.5 Ok");
      } else if (upper === "DATA") {
        c.state["wrong"] = "250 2.0.0 Ok: queued as LIAR";
        if (!c.fault("data", "354 End data with <CR><LF>.<CR><LF>")) {
          c.state["inData"] = true;
          c.send("354 End data with <CR><LF>.<CR><LF>");
        }
      } else if (upper === "QUIT") {
        if (!c.fault("quit", "221 2.0.0 Bye")) c.send("221 2.0.0 Bye");
      } else if (upper === "RSET" || upper === "NOOP") {
        c.send("250 2.0.0 Ok");
      } else {
        c.send("502 5.5.2 Error: command not recognized");
      }
    },
  };
}

/**
 * IMAP (RFC 9051). Phases: greeting, capability, starttls, auth (the reply to AUTHENTICATE),
 * auth-round (the reply to the client's response), logout.
 */
export function imapResponder(opts: { caps?: string; starttls?: boolean } = {}): Responder {
  const caps = opts.caps ?? "IMAP4rev1 SASL-IR AUTH=PLAIN AUTH=LOGIN";
  const capsNow = (c: Conn) => `${caps}${opts.starttls && !c.state["secure"] ? " STARTTLS" : ""}`;
  return {
    greet(c) {
      c.state["continuation"] = "+ ";
      if (!c.fault("greeting", "* OK hostile IMAP ready")) c.send("* OK hostile IMAP ready");
    },
    line(c, line) {
      if (c.state["authTag"] !== undefined) {
        const tag = c.state["authTag"] as string;
        c.state["authTag"] = undefined;
        if (line === "*") c.send(`${tag} BAD Authentication cancelled`);
        else if (!c.fault("auth-round", `${tag} OK Logged in`)) c.send(`${tag} OK Logged in`);
        return;
      }
      const m = /^(\S+) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return c.send("* BAD what");
      const [, tag, cmd, args] = m;
      const verb = cmd!.toUpperCase();
      c.state["wrong"] = `${tag} MAYBE odd`;
      if (verb === "CAPABILITY") {
        const text = `* CAPABILITY ${capsNow(c)}\r\n${tag} OK done`;
        if (!c.fault("capability", text)) c.send(text);
      } else if (verb === "STARTTLS") {
        if (!c.fault("starttls", `${tag} OK Begin TLS`)) {
          c.send(`${tag} OK Begin TLS`);
          c.state["secure"] = true;
          c.startTls();
        }
      } else if (verb === "AUTHENTICATE") {
        const hasIr = (args ?? "").includes(" ");
        if (hasIr) {
          if (!c.fault("auth", `${tag} OK Logged in`)) c.send(`${tag} OK Logged in`);
        } else if (!c.fault("auth", "+ ")) {
          c.state["authTag"] = tag;
          c.send("+ ");
        }
      } else if (verb === "LOGOUT") {
        if (!c.fault("logout", `* BYE\r\n${tag} OK bye`)) c.send(`* BYE\r\n${tag} OK bye`);
      } else c.send(`${tag} OK done`);
    },
  };
}

/** POP3 (RFC 1939 / 2449 / 5034). Phases: greeting, capa, stls, auth, auth-round, quit. */
export function pop3Responder(opts: { sasl?: string; stls?: boolean } = {}): Responder {
  const sasl = opts.sasl ?? "PLAIN LOGIN";
  return {
    greet(c) {
      c.state["continuation"] = "+ ";
      c.state["wrong"] = "+MAYBE";
      if (!c.fault("greeting", "+OK hostile POP3 ready")) c.send("+OK hostile POP3 ready");
    },
    line(c, line) {
      if (c.state["authPending"]) {
        c.state["authPending"] = false;
        if (line === "*") c.send("-ERR cancelled");
        else if (!c.fault("auth-round", "+OK Logged in")) c.send("+OK Logged in");
        return;
      }
      const upper = line.toUpperCase();
      if (upper === "CAPA") {
        const lines = ["+OK", "USER", `SASL ${sasl}`, ...(opts.stls && !c.state["secure"] ? ["STLS"] : []), "."].join("\r\n");
        if (!c.fault("capa", lines)) c.send(lines);
      } else if (upper === "STLS") {
        if (!c.fault("stls", "+OK Begin TLS")) {
          c.send("+OK Begin TLS");
          c.state["secure"] = true;
          c.startTls();
        }
      } else if (upper.startsWith("AUTH ")) {
        const hasIr = line.split(" ").length > 2;
        if (hasIr) {
          if (!c.fault("auth", "+OK Logged in")) c.send("+OK Logged in");
        } else if (!c.fault("auth", "+ ")) {
          c.state["authPending"] = true;
          c.send("+ ");
        }
      } else if (upper === "QUIT") {
        if (!c.fault("quit", "+OK bye")) c.send("+OK bye");
      } else c.send("+OK");
    },
  };
}
