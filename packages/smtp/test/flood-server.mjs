// A hostile SMTP server for hostile-replies.test.ts, run in its own process so that its work
// (building and writing 64 MiB) never shows up in the client's event-loop measurements.
// argv: where ("greeting" | "ehlo"), case name. Prints the port on stdout, serves until killed.
import net from "node:net";
import { once } from "node:events";

const LINE_BYTES = 64 * 1024;
const LINES = 1000;
const [where, kind] = process.argv.slice(2);

function replyLines(code, head, filler) {
  let text = "";
  for (let k = 0; text.length < LINE_BYTES; k++) text += ` ${filler(k)}`;
  const template = Buffer.from(`${text.slice(0, LINE_BYTES)}\r\n`, "latin1");
  return (i) => {
    const line = Buffer.from(template);
    Buffer.from(`${code}-${head(i)} `, "latin1").copy(line, 0);
    return line;
  };
}

const cases = {
  "distinct-keywords": () => replyLines("250", (i) => `X-KEY${i}`, (k) => `p${k}`),
  "auth-distinct": () => replyLines("250", (i) => `AUTH M${i}`, (k) => `M-${k}`),
  "repeated-keyword": () => replyLines("250", () => "SIZE", () => "1"),
  "legacy-auth": () => replyLines("250", () => "AUTH=PLAIN", () => "PLAIN"),
  greeting: () => replyLines("220", (i) => `mx${i}`, (k) => `w${k}`),
};
const line = cases[kind]();

const flood = async (socket, code) => {
  for (let i = 0; i < LINES - 1; i++) {
    if (socket.destroyed) return;
    if (!socket.write(line(i))) await once(socket, "drain").catch(() => undefined);
  }
  socket.write(`${code} done\r\n`);
};

const server = net.createServer((socket) => {
  socket.on("error", () => undefined);
  if (where === "greeting") void flood(socket, "220");
  else socket.write("220 mx.example ESMTP\r\n");
  let buffered = "";
  socket.on("data", (chunk) => {
    buffered += chunk.toString("latin1");
    for (let nl = buffered.indexOf("\r\n"); nl >= 0; nl = buffered.indexOf("\r\n")) {
      const command = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 2);
      if (command.startsWith("EHLO")) {
        if (where === "ehlo") void flood(socket, "250");
        else socket.write("250 mx.example\r\n");
      } else if (command === "QUIT") socket.end("221 bye\r\n");
      else socket.write("500 what\r\n");
    }
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`${server.address().port}\n`));
process.on("disconnect", () => process.exit(0));
