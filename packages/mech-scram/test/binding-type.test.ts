/**
 * The caller chooses the channel-binding type (issue 13 item 6): `options.scram.channelBinding`
 * may name one type. The client then binds with exactly that type, and -PLUS is unusable (not
 * silently bound with another type) when the connection cannot produce it.
 */
import { describe, expect, it } from "vitest";
import { ScramClient, scramProviders } from "@saslkit/mech-scram";
import { clientContext, fakeBinding, text, type ClientContextInput } from "./helpers.js";

const binding = fakeBinding({ "tls-server-end-point": "cert-hash", "tls-exporter": "exporter-data" });
const plus = scramProviders.find((p) => p.name === "SCRAM-SHA-256-PLUS")!;
const start = async (input: ClientContextInput) => (text(await new ScramClient(clientContext(input), { hash: "SHA-256", plus: true }).start()) as string).split(",")[0];

describe("options.scram.channelBinding names the binding type", () => {
  it("binds with the named type even when a preferred one is available", async () => {
    expect(await start({ channel: { channelBinding: binding }, options: { scram: { channelBinding: "tls-server-end-point" } } })).toBe("p=tls-server-end-point");
    expect(await start({ channel: { channelBinding: binding }, options: { scram: { channelBinding: true } } })).toBe("p=tls-exporter");
  });

  it("makes -PLUS unusable when the connection cannot produce the named type", () => {
    const ctx = clientContext({ channel: { channelBinding: binding }, options: { scram: { channelBinding: "tls-unique" } } });
    expect(plus.usable?.(ctx)).toMatch(/cannot produce tls-unique/);
    expect(plus.usable?.(clientContext({ channel: { channelBinding: binding }, options: { scram: { channelBinding: "tls-exporter" } } }))).toBeUndefined();
  });

  it("refuses in the exchange too, naming the type", async () => {
    const client = new ScramClient(clientContext({ channel: { channelBinding: binding }, options: { scram: { channelBinding: "tls-unique" } } }), { hash: "SHA-256", plus: true });
    await expect(client.start()).rejects.toThrow(/cannot produce tls-unique/);
  });
});
