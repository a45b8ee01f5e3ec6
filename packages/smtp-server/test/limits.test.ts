/**
 * Issue 10 items 3 and 4: submission semantics by default, a per-address connection limit below
 * the global one (Postfix anvil's smtpd_client_connection_count_limit), and the limits a client
 * meets before it authenticates (commands, errors, time). Hostile clients on 127.0.0.x only.
 */
import net from "node:net";
import { describe, expect, it } from "vitest";
import { clientKey } from "../src/server.js";
import { RawClient, serverHarness } from "./helpers.js";

const { start, connect, login, track } = serverHarness();

describe("per-client connection limit", () => {
  it("one address cannot hold every slot: past maxConnectionsPerClient it gets 421 4.7.0, others still get in", async () => {
    const server = await start({ maxConnections: 10, maxConnectionsPerClient: 2 });
    const a = await connect(server, { ehlo: false });
    const b = await connect(server, { ehlo: false });
    const refused = track(await RawClient.connect(server.port));
    expect((await refused.reply())[0]).toMatch(/^421 4\.7\.0 .*Too many connections from your address/);
    await refused.closed();
    // Another loopback address is another client.
    const other = await connect(server, { ehlo: false, localAddress: "127.0.0.2" });
    expect(await other.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    // A slot freed by the first client is usable again.
    a.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const again = await connect(server, { ehlo: false });
    expect(await again.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(await b.command("NOOP")).toEqual(["250 2.0.0 OK"]);
  });

  it("a refused client that keeps its side open holds nothing: close() does not wait for it", async () => {
    const server = await start({ maxConnectionsPerClient: 1 });
    await connect(server, { ehlo: false });
    const halfOpen = net.connect({ host: "127.0.0.1", port: server.port, allowHalfOpen: true });
    halfOpen.on("error", () => undefined);
    const greeting = await new Promise<string>((resolve) => halfOpen.once("data", (d) => resolve(String(d))));
    expect(greeting).toMatch(/^421 4\.7\.0 /);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    halfOpen.destroy();
  });

  it("the global limit still applies across addresses", async () => {
    const server = await start({ maxConnections: 2, maxConnectionsPerClient: 2 });
    await connect(server, { ehlo: false, localAddress: "127.0.0.3" });
    await connect(server, { ehlo: false, localAddress: "127.0.0.4" });
    const refused = track(await RawClient.connect(server.port, { localAddress: "127.0.0.5" }));
    expect((await refused.reply())[0]).toMatch(/^421 4\.3\.2 /);
  });

  it("the default per-client limit (16) is below the global default (64)", async () => {
    const server = await start();
    for (let i = 0; i < 16; i++) await connect(server, { ehlo: false });
    const refused = track(await RawClient.connect(server.port));
    expect((await refused.reply())[0]).toMatch(/^421 4\.7\.0 /);
  });
});

describe("limits before authentication", () => {
  it("submission by default: MAIL before AUTH is 530 5.7.0 whenever mechanisms are configured", async () => {
    const server = await start();
    const client = await connect(server);
    expect(await client.command("MAIL FROM:<a@example.test>")).toEqual(["530 5.7.0 Authentication required"]);
  });

  it("commands before AUTH are counted: past maxCommandsBeforeAuth the server says 421 and hangs up", async () => {
    const server = await start({ maxCommandsBeforeAuth: 4 });
    const client = await connect(server); // EHLO is the first
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
    expect(await client.command("RSET")).toEqual(["250 2.0.0 OK"]);
    expect((await client.command("NOOP"))[0]).toMatch(/^421 4\.7\.0 .*before authentication/);
    await client.closed();
  });

  it("the command count stops once authenticated", async () => {
    const server = await start({ maxCommandsBeforeAuth: 3 });
    const client = await login(server);
    for (let i = 0; i < 6; i++) expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
  });

  it("a session has authTimeoutMs to authenticate, however often it sends commands", async () => {
    const server = await start({ authTimeoutMs: 300 });
    const client = await connect(server);
    const started = Date.now();
    let last: string[] = [];
    while (Date.now() - started < 2000) {
      last = await client.command("NOOP").catch(() => ["closed"]);
      if (last[0] !== "250 2.0.0 OK") break;
      await new Promise((r) => setTimeout(r, 40));
    }
    if (last[0] === "250 2.0.0 OK" || last[0] === "closed") last = await client.reply().catch(() => ["closed"]);
    expect(last[0]).toMatch(/^421 4\.7\.0 .*Authentication not completed in time/);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("an open server (requireAuth: false) has no authentication deadline or command count", async () => {
    const server = await start({ requireAuth: false, authTimeoutMs: 100, maxCommandsBeforeAuth: 2 });
    const client = await connect(server);
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 4; i++) expect(await client.command("NOOP")).toEqual(["250 2.0.0 OK"]);
  });

  it("errors and failed AUTH attempts still end a session (maxErrors, maxAuthFailures)", async () => {
    const server = await start({ maxErrors: 2 });
    const client = await connect(server);
    await client.command("BOGUS");
    client.send("BOGUS\r\n");
    expect(await client.reply()).toEqual(["500 5.5.2 Command not recognized"]);
    expect((await client.reply())[0]).toMatch(/^421 4\.7\.0 .*Too many errors/);
    await client.closed();
  });
});

describe("who counts as one client", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:bbbb:cccc:dddd:eeee", "2001:db8:1:2::/64"],
    ["2001:0db8:0001:0002::9", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1:2", "fe80:0:0:0::/64"],
  ])("%s → %s (IPv6 per /64: one host usually holds a whole /64)", (address, key) => {
    expect(clientKey(address)).toBe(key);
  });
});
