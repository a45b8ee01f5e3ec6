// Self-test of the sink's DATA parser: bodies with leading dots, empty bodies and lines that look
// like the end marker, written in random small pieces so every chunk boundary is exercised.
//   node bench/test/sink-selftest.mjs
import assert from "node:assert/strict";
import net from "node:net";
import { once } from "node:events";
import { setImmediate as tick } from "node:timers/promises";
import { SINK_PASSWORD, SINK_USER, startSink } from "../lib/sink-server.mjs";
import { dotStuff, sha256 } from "../lib/messages.mjs";

const bodies = [
  "",
  "\r\n",
  ".\r\n",
  "..\r\n",
  ".\r\n.\r\n",
  "a\r\n.b\r\n\r\n.\r\n",
  ".\rx\r\n",
  "line\r\n.\r\nnot the end\r\n",
  "x".repeat(5000) + "\r\n." + "y".repeat(3000) + "\r\n",
].map((s) => Buffer.from(s, "latin1"));

const sink = await startSink();
try {
  let seed = 7;
  const rnd = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n) + 1;
  for (let round = 0; round < 20; round++) {
    await sink.reset();
    const socket = net.connect({ host: sink.host, port: sink.port });
    socket.setNoDelay(true);
    await once(socket, "connect");
    let replies = "";
    socket.on("data", (d) => (replies += d));
    const auth = Buffer.from(`\0${SINK_USER}\0${SINK_PASSWORD}`).toString("base64");
    const parts = [Buffer.from(`EHLO t\r\nAUTH PLAIN ${auth}\r\n`)];
    for (const b of bodies) parts.push(Buffer.from("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"), dotStuff(b), Buffer.from(".\r\n"));
    parts.push(Buffer.from("QUIT\r\n"));
    const all = Buffer.concat(parts);
    for (let at = 0; at < all.length; ) {
      const n = Math.min(rnd(round < 10 ? 3 : 700), all.length - at);
      socket.write(all.subarray(at, at + n));
      at += n;
      await tick();
    }
    await once(socket, "close");
    const st = await sink.stats();
    const want = {};
    for (const b of bodies) want[sha256(b)] = (want[sha256(b)] ?? 0) + 1;
    assert.deepEqual(st.hashes, want, `round ${round}`);
    assert.equal(st.errors.length, 0);
    assert.match(replies, /221 /);
  }
  console.log(`sink self-test: ${bodies.length} bodies x 20 chunkings ok`);
} finally {
  await sink.close();
}
