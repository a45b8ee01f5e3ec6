import { parseArgs } from "node:util";
import type { CliIo } from "../io.js";
import { startDemoServer } from "./demo-server.js";

export async function demo(argv: readonly string[], io: CliIo): Promise<number> {
  parseArgs({ args: [...argv], options: { quiet: { type: "boolean" } } });
  const demoServer = await startDemoServer();
  try {
    io.stdout.write(`Embedded SMTP server on 127.0.0.1:${demoServer.server.port}\n`);
    throw new Error("the demo's client half needs @saslkit/smtp's client, which has not landed yet.");
  } finally {
    await demoServer.server.close();
  }
}
