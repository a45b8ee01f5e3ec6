/**
 * Issue 13 item 6 (mechanism part): the caller chooses the channel-binding type through
 * `options.scram.channelBinding` (a type name or a list), or leaves it to the library.
 */
import { describe, expect, it } from "vitest";
import { pairedExchange, planNegotiation, runExchange } from "@saslkit/core";
import { ScramClient, ScramServer, deriveScramKeys, prepareScramPassword, scramSha256Plus } from "@saslkit/mech-scram";
import { clientContext, fakeBinding, serverContext, text } from "./helpers.js";

const channelBinding = fakeBinding({ "tls-exporter": "exporter-data", "tls-server-end-point": "endpoint-data", "tls-unique": "unique-data" });
const keys = deriveScramKeys("SHA-256", prepareScramPassword("pencil"), { iterations: 4096 });

async function bind(clientType: unknown, serverType?: unknown) {
  const server = new ScramServer(
    serverContext({ user: await keys }, { channel: { channelBinding }, options: serverType === undefined ? {} : { scram: { channelBinding: serverType } } }),
    { hash: "SHA-256", plus: true },
  );
  const client = new ScramClient(
    clientContext({ channel: { channelBinding }, options: { scram: { cache: false, ...(clientType === undefined ? {} : { channelBinding: clientType }) } } }),
    { hash: "SHA-256", plus: true },
  );
  const exchange = pairedExchange(server);
  const error = await runExchange(client, exchange).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  return { header: text(exchange.sent[0] ?? null)?.split(",")[0], error, outcome: exchange.outcome };
}

describe("choosing the channel-binding type", () => {
  it("leaves it to the library by default: tls-exporter first", async () => {
    expect(await bind(undefined)).toMatchObject({ header: "p=tls-exporter", error: undefined });
  });

  it("uses the one type the caller names", async () => {
    expect(await bind("tls-server-end-point")).toMatchObject({ header: "p=tls-server-end-point", error: undefined });
    expect(await bind("tls-unique")).toMatchObject({ header: "p=tls-unique", error: undefined });
  });

  it("takes a list as an order of preference, skipping types the connection cannot produce", async () => {
    const onlyEndpoint = fakeBinding({ "tls-server-end-point": "endpoint-data" });
    const client = new ScramClient(clientContext({ channel: { channelBinding: onlyEndpoint }, options: { scram: { cache: false, channelBinding: ["tls-unique", "tls-server-end-point"] } } }), {
      hash: "SHA-256",
      plus: true,
    });
    expect(text(await client.start())).toMatch(/^p=tls-server-end-point,/);
  });

  it("makes -PLUS unusable, with the reason, when the named type is not available", () => {
    const plan = planNegotiation([scramSha256Plus], {
      offered: ["SCRAM-SHA-256-PLUS"],
      credentials: { username: "u", password: "p" },
      channel: { secure: true, channelBinding: fakeBinding({ "tls-exporter": "x" }) },
      options: { scram: { channelBinding: "tls-unique" } },
    });
    expect(plan.candidates).toEqual([]);
    expect(plan.refused[0]?.explanation).toContain("cannot produce tls-unique");
  });

  it("refuses an unknown type name instead of silently using the default", async () => {
    const client = new ScramClient(clientContext({ channel: { channelBinding }, options: { scram: { cache: false, channelBinding: "tls-exporter " } } }), { hash: "SHA-256", plus: true });
    await expect(client.start()).rejects.toMatchObject({ code: "policy-refused" });
  });

  it("a server restricted to some types refuses the others as a binding failure", async () => {
    const server = new ScramServer(serverContext({ user: await keys }, { channel: { channelBinding }, options: { scram: { channelBinding: ["tls-exporter"] } } }), { hash: "SHA-256", plus: true });
    const step = await server.start(new TextEncoder().encode("p=tls-server-end-point,,n=user,r=abc"));
    expect(step).toEqual({ type: "failure", code: "authentication-failed", message: "e=unsupported-channel-binding-type", reason: "channel-binding" });
    expect(await bind("tls-exporter", ["tls-exporter"])).toMatchObject({ error: undefined });
  });
});
