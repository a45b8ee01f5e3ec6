#!/usr/bin/env node
import { processIo } from "./io.js";
import { EXIT, main } from "./main.js";

// Ctrl-C while connecting or sending: 130, as shells report a SIGINT death. (Inside the password
// prompt the terminal is in raw mode and readline turns Ctrl-C into the same status.)
process.once("SIGINT", () => {
  process.stderr.write("\nsaslkit: interrupted.\n");
  process.exit(EXIT.interrupted);
});

// No top-level await: a promise that never settled would end the process with status 13 and no
// message. main() always resolves; once it has, the process ends with its status, even if a
// socket or timer still holds the event loop.
main(process.argv.slice(2), processIo()).then(
  (status) => {
    process.exitCode = status;
    setTimeout(() => process.exit(status), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`saslkit: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT.failure);
  },
);
