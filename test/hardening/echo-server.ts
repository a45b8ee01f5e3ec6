/**
 * An echoing IMAP or POP3 server on 127.0.0.1 (issue 9 item 3): it plays each mechanism far
 * enough for the client to send its secret-bearing message (PLAIN's initial response, LOGIN's
 * password, CRAM-MD5's and DIGEST-MD5's responses, SCRAM's client-final, OAuth's token, the LOGIN command, PASS,
 * APOP), then sends that message back, base64 and decoded, in one chosen place:
 * - `failure`: inside a well-formed failure (`A1 NO [AUTHENTICATIONFAILED] ...`, `-ERR [AUTH] ...`);
 * - `malformed`: as a line of no valid form;
 * - `untagged` (IMAP): in an untagged `* OK` before a tagged `NO`; (POP3, which has none) a `-ERR`
 *   after a continuation request;
 * - `continuation`: as the text of a `+` continuation request (not base64: a malformed challenge).
 * Everything it received is recorded so a test can add the exact payloads to the forms searched.
 */
import { createHash } from "node:crypto";
import net from "node:net";

export type EchoPlace = "failure" | "malformed" | "untagged" | "continuation";
export const ECHO_PLACES: readonly EchoPlace[] = ["failure", "malformed", "untagged", "continuation"];

export interface EchoServer {
  readonly port: number;
  /** Base64 payloads the client sent during authentication (IRs and responses). */
  readonly payloads: string[];
  /** Secret-bearing arguments of LOGIN / PASS / APOP the client sent. */
  readonly loginArguments: string[];
  close(): Promise<void>;
}

export interface EchoOptions {
  readonly protocol: "imap" | "pop3";
  /** The SASL mechanism to offer, or none for the protocol-login cases. */
  readonly mechanism?: string;
  readonly place: EchoPlace;
  /** Secrets the server knows, to tell a secret-bearing message from a preliminary one. */
  readonly secrets: readonly string[];
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const printable = (s: string) => s.replace(/[\0\x01]/g, " ");
export const APOP_GREETING_STAMP = "<1896.697170952@dbc.mtview.ca.us>";

export async function startEchoServer(options: EchoOptions): Promise<EchoServer> {
  const payloads: string[] = [];
  const loginArguments: string[] = [];
  const sockets = new Set<net.Socket>();
  const imap = options.protocol === "imap";
  const mech = options.mechanism;

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    const send = (line: string) => socket.write(`${line}\r\n`);
    let tag = "";
    let authenticating = false;
    let step = 0;
    let pending = "";

    /** Sends `echo` (the secret-bearing text) in the chosen place, ending the exchange. */
    const echo = (encoded: string, decoded: string) => {
      const text = `echo ${encoded} ${printable(decoded)}`;
      authenticating = false;
      switch (options.place) {
        case "failure":
          send(imap ? `${tag} NO [AUTHENTICATIONFAILED] ${text}` : `-ERR [AUTH] ${text}`);
          break;
        case "malformed":
          send(`${encoded} ${printable(decoded)}`);
          break;
        case "untagged":
          if (imap) {
            send(`* OK ${text}`);
            send(`${tag} NO [AUTHENTICATIONFAILED] failed`);
          } else {
            send("+ ");
            send(`-ERR ${text}`);
          }
          break;
        case "continuation":
          authenticating = true; // the client answers the bad challenge with "*" or a line
          send(`+ ${text}`);
          break;
      }
    };

    const bearsSecret = (decoded: string) =>
      options.secrets.some((s) => decoded.includes(s)) || decoded.includes(",p=") || decoded.includes("response=") || (mech === "CRAM-MD5" && step > 0);

    /** One base64 message of the mechanism (IR or response). */
    const payload = (encoded: string) => {
      payloads.push(encoded);
      const decoded = Buffer.from(encoded === "=" ? "" : encoded, "base64").toString("utf8");
      step++;
      if (bearsSecret(decoded)) return echo(encoded, decoded);
      if (mech?.startsWith("SCRAM-")) {
        const nonce = /(?:^|,)r=([^,]*)/.exec(decoded)?.[1] ?? "x";
        return send(`+ ${b64(`r=${nonce}srvNonce,s=${b64("salt-salt-salt")},i=4096`)}`);
      }
      if (mech === "LOGIN") return send(`+ ${b64("Password:")}`);
      return send("+ ");
    };

    const start = (mechanism: string, ir: string | undefined) => {
      authenticating = true;
      step = 0;
      if (ir !== undefined) return payload(ir);
      if (mechanism === "CRAM-MD5") return send(`+ ${b64("<1.2@echo.test>")}`);
      if (mechanism === "DIGEST-MD5") return send(`+ ${b64('realm="echo.test",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess')}`);
      if (mechanism === "LOGIN") return send(`+ ${b64("Username:")}`);
      return send("+ ");
    };

    const onImap = (line: string) => {
      if (authenticating) {
        if (line === "*") {
          authenticating = false;
          return send(`${tag} BAD cancelled`);
        }
        return payload(line);
      }
      const [t, command = "", ...args] = line.split(" ");
      tag = t ?? "";
      switch (command.toUpperCase()) {
        case "CAPABILITY":
          send(`* CAPABILITY IMAP4rev1 SASL-IR${mech ? ` AUTH=${mech}` : ""}`);
          return send(`${tag} OK done`);
        case "AUTHENTICATE":
          return start(args[0] ?? "", args[1]);
        case "LOGIN": {
          const password = /"((?:[^"\\]|\\.)*)"$/.exec(line)?.[1] ?? "";
          loginArguments.push(password);
          return echo(b64(password), password);
        }
        case "LOGOUT":
          send("* BYE bye");
          send(`${tag} OK bye`);
          return socket.end();
        default:
          return send(`${tag} BAD unknown`);
      }
    };

    const onPop3 = (line: string) => {
      if (authenticating) {
        if (line === "*") {
          authenticating = false;
          return send("-ERR cancelled");
        }
        return payload(line);
      }
      const [command = "", ...args] = line.split(" ");
      switch (command.toUpperCase()) {
        case "CAPA":
          return send(`+OK\r\n${mech ? `SASL ${mech}\r\n` : ""}USER\r\n.`);
        case "AUTH":
          return start(args[0] ?? "", args[1]);
        case "USER":
          return send("+OK");
        case "PASS": {
          const password = line.slice(5);
          loginArguments.push(password);
          return echo(b64(password), password);
        }
        case "APOP": {
          const digest = args[1] ?? "";
          loginArguments.push(digest);
          return echo(b64(digest), digest);
        }
        case "QUIT":
          send("+OK bye");
          return socket.end();
        default:
          return send("-ERR unknown");
      }
    };

    socket.on("data", (chunk) => {
      pending += chunk.toString("utf8");
      for (let at = pending.indexOf("\n"); at >= 0; at = pending.indexOf("\n")) {
        const line = pending.slice(0, at).replace(/\r$/, "");
        pending = pending.slice(at + 1);
        (imap ? onImap : onPop3)(line);
      }
    });
    send(imap ? `* OK [CAPABILITY IMAP4rev1 SASL-IR${mech ? ` AUTH=${mech}` : ""}] echo ready` : `+OK echo ready ${APOP_GREETING_STAMP}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    payloads,
    loginArguments,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The APOP digest the client will send for `password` (RFC 1939 §7). */
export function apopDigest(password: string): string {
  return createHash("md5").update(`${APOP_GREETING_STAMP}${password}`).digest("hex");
}
