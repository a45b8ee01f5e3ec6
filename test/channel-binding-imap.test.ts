/**
 * Channel-binding facts per connection (issue 13 item 6), against an IMAPS server on 127.0.0.1
 * that runs the real SCRAM-SHA-256-PLUS server half over the transport's server-side socket:
 * - after a -PLUS exchange the client's `channel` still lists tls-server-end-point (Node hands out
 *   the peer certificate once; the facts are read once per connection and kept);
 * - the caller chooses the binding type with the SCRAM mechanism option
 *   (`mechanismOptions.scram.channelBinding`, the one place for it in every adapter), and the GS2
 *   header the server receives names it; the old client option `channelBinding` is refused with a
 *   pointer to the mechanism option.
 */
import tls from "node:tls";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ImapClient } from "@saslkit/imap";
import { scramProviders } from "@saslkit/mech-scram";
import { Deadline, LineSocket, decodeBase64, encodeBase64 } from "@saslkit/transport";
import { testCertificates } from "@saslkit/test-kit";
import { PASSWORD } from "./hardening/secrets.js";
import { CALLBACKS, SCRAM_TEST_OPTIONS, USER } from "./hardening/mechanisms.js";

const PLUS = scramProviders.find((p) => p.name === "SCRAM-SHA-256-PLUS")!;

interface PlusServer {
  readonly port: number;
  /** GS2 headers of the client-first messages received. */
  readonly gs2: string[];
  close(): Promise<void>;
}

let server: PlusServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function startPlusServer(): Promise<PlusServer> {
  const certs = await testCertificates();
  const gs2: string[] = [];
  const sockets = new Set<net.Socket>();
  const tlsServer = tls.createServer({ key: certs.key, cert: certs.cert }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    void (async () => {
      const line = LineSocket.accept(socket);
      const d = () => Deadline.in(5000);
      try {
        await line.writeLine("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256] ready");
        for (;;) {
          const [tag, command, mech, ir] = (await line.readLine(d())).split(" ");
          if (command === "LOGOUT") {
            await line.writeLine(`* BYE\r\n${tag} OK bye`);
            return await line.close();
          }
          if (command !== "AUTHENTICATE" || mech !== PLUS.name || ir === undefined) {
            await line.writeLine(`${tag} BAD unexpected`);
            continue;
          }
          const first = decodeBase64(ir)!;
          gs2.push(Buffer.from(first).toString("utf8").split(",")[0]!);
          const half = PLUS.createServer!({ callbacks: CALLBACKS, channel: line.channelInfo(), hostname: "localhost", options: SCRAM_TEST_OPTIONS, advertised: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"] });
          let step = await half.start(first);
          while (step.type === "challenge") {
            await line.writeLine(`+ ${encodeBase64(step.data)}`);
            const answer = await line.readLine(d());
            step = await half.step(decodeBase64(answer) ?? new Uint8Array(0));
          }
          if (step.type === "failure") {
            await line.writeLine(`${tag} NO [AUTHENTICATIONFAILED] ${step.message}`);
            continue;
          }
          if (step.data) {
            await line.writeLine(`+ ${encodeBase64(step.data)}`);
            await line.readLine(d());
          }
          await line.writeLine(`${tag} OK [CAPABILITY IMAP4rev1] authenticated`);
        }
      } catch {
        line.destroy();
      }
    })();
  });
  await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
  return {
    port: (tlsServer.address() as net.AddressInfo).port,
    gs2,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        tlsServer.close(() => r());
      }),
  };
}

/** The mechanism options with `scram.channelBinding` set (the test's low-iteration SCRAM options kept). */
const scramBinding = (channelBinding: unknown) => ({ mechanismOptions: { scram: { ...SCRAM_TEST_OPTIONS.scram, channelBinding } } });

const connect = async (extra: Record<string, unknown> = {}) => {
  const certs = await testCertificates();
  return ImapClient.connect({
    host: "127.0.0.1",
    port: server!.port,
    tls: "implicit",
    tlsOptions: { ca: certs.ca, servername: "localhost" },
    auth: { username: USER, password: PASSWORD },
    mechanisms: scramProviders,
    mechanismOptions: SCRAM_TEST_OPTIONS,
    timeouts: { connect: 10_000, reply: 5000 },
    ...extra,
  });
};

describe("channel binding facts are read once per connection (issue 13 item 6)", () => {
  it("after a SCRAM-SHA-256-PLUS exchange, channel still lists tls-server-end-point with the same data", async () => {
    server = await startPlusServer();
    const conn = await connect(scramBinding("tls-server-end-point"));
    expect(conn.mechanism).toBe("SCRAM-SHA-256-PLUS");
    const binding = conn.channel.channelBinding!;
    expect(binding.types).toContain("tls-server-end-point");
    expect(binding.data("tls-server-end-point")?.length).toBe(32);
    expect(conn.channel.channelBinding!.types).toContain("tls-server-end-point");
    expect(conn.channel.service).toBe("imap");
    await conn.logout();
  });

  it("the caller chooses the binding type; the default lets the mechanism prefer tls-exporter", async () => {
    server = await startPlusServer();
    const chosen = await connect(scramBinding("tls-server-end-point"));
    expect(chosen.mechanism).toBe("SCRAM-SHA-256-PLUS");
    // The channel lists what the connection can supply; the mechanism option picks among them.
    expect(chosen.channel.channelBinding!.types).toEqual(["tls-exporter", "tls-server-end-point"]);
    await chosen.logout();
    const free = await connect();
    expect(free.mechanism).toBe("SCRAM-SHA-256-PLUS");
    await free.logout();
    expect(server.gs2).toEqual(["p=tls-server-end-point", "p=tls-exporter"]);
  });

  it("an unknown binding type means this client cannot bind: -PLUS is refused with the reason and never sent", async () => {
    server = await startPlusServer();
    // This server runs only -PLUS, so the plain SCRAM attempt that follows the refusal fails there.
    const error = (await connect({ ...scramBinding("tls-exporter-2"), login: "never" }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { negotiation?: { refused: readonly { mechanism: string; explanation: string }[]; attempts: readonly { mechanism: string }[] } } | undefined;
    const refusal = error?.negotiation?.refused.find((r) => r.mechanism === "SCRAM-SHA-256-PLUS");
    expect(refusal?.explanation).toMatch(/channel-binding/);
    expect(error?.negotiation?.attempts.map((a) => a.mechanism)).toEqual(["SCRAM-SHA-256"]);
    expect(server.gs2).toEqual([]);
  });

  it("the client option channelBinding is gone: an invalid-option error that points to mechanismOptions.scram.channelBinding", async () => {
    server = await startPlusServer();
    for (const value of ["tls-server-end-point", "tls-exporter-2"]) {
      const error = (await connect({ channelBinding: value }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code: string; option: string; message: string } | undefined;
      expect(error).toMatchObject({ code: "invalid-option", option: "channelBinding" });
      expect(error!.message).toContain("mechanismOptions: { scram: { channelBinding:");
    }
    expect(server.gs2).toEqual([]);
  });
});
