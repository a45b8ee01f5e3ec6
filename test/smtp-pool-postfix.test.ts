/**
 * SmtpPool against the real Postfix (test/servers): with 1, 2, 4 and 8 connections, N messages
 * are each delivered exactly once (counted in the Maildir by their Message-ID), over STARTTLS
 * with AUTH. Correctness, not timing (the throughput bench is bench/pool.mjs). Postfix stopped
 * and started under load: smtp-pool-restart-postfix.test.ts, against an instance of its own
 * (stopping the shared one would disturb every other test using it at the same time).
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { createPool } from "@saslkit/smtp";
import { listDelivered } from "./servers/servers.js";
import { clientOptions, marker, realServers } from "./support/smtp-real.js";

const env = realServers();
const N = 24;

/** Counts, per Message-ID carrying `tag`, the files in `user`'s Maildir; waits (bounded) until `ids` all arrived. */
async function deliveredCounts(user: string, tag: string, ids: readonly string[], timeoutMs = 30_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  const wanted = Buffer.from(tag);
  const idPattern = /^Message-ID: <([^>]+)>/im;
  for (;;) {
    const counts = new Map<string, number>();
    for (const f of listDelivered(user, env)) {
      let data: Buffer;
      try {
        data = await readFile(f.path);
      } catch {
        continue; // moved new/ -> cur/ by a concurrent session; counted on the next pass
      }
      if (!data.includes(wanted)) continue;
      const id = idPattern.exec(data.toString("utf8"))?.[1];
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    if (ids.every((id) => counts.has(id)) || Date.now() >= deadline) return counts;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!env)("SmtpPool against Postfix: every message exactly once", () => {
  for (const connections of [1, 2, 4, 8]) {
    it(`${connections} connection(s), ${N} messages`, async () => {
      const e = env!;
      const alice = e.users["alice"]!;
      const tag = marker(`pool${connections}`);
      const pool = createPool({
        connection: clientOptions(e, { port: e.smtp.port, tls: "starttls", auth: { username: alice.user, password: alice.password } }),
        maxConnections: connections,
        maxMessagesPerConnection: 10, // forces reconnections within the run
      });
      const ids = Array.from({ length: N }, (_, i) => `${tag}-${i}@${e.domain}`);
      const results = await Promise.all(
        ids.map((id, i) =>
          pool.send(
            `From: <${alice.address}>\r\nTo: <${alice.address}>\r\nSubject: ${tag} ${i}\r\nMessage-ID: <${id}>\r\n\r\n${tag}\r\n.line ${i}\r\n`,
            { from: alice.address, to: [alice.address] },
          ),
        ),
      );
      const stats = pool.stats;
      await pool.close();
      expect(results.every((r) => r.reply.code === 250 && r.queueId)).toBe(true);
      expect(new Set(results.map((r) => r.queueId)).size).toBe(N);
      expect(stats).toMatchObject({ sent: N, failed: 0, retried: 0 });
      expect(stats.connectionsOpened).toBeLessThanOrEqual(connections + Math.ceil(N / 10));
      const counts = await deliveredCounts(alice.user, tag, ids);
      expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);
      expect(counts.size).toBe(N);
    }, 60_000);
  }
});
