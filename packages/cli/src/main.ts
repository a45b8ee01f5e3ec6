/**
 * The `saslkit` command: argument dispatch and exit statuses. Every command is a function of
 * its arguments and a `CliIo`, so tests run it in-process.
 *
 * Exit statuses: 0 success, 1 failure (network, TLS, authentication, server refusal),
 * 2 usage error.
 */
import { formatError } from "./format.js";
import { UsageError, type CliIo } from "./io.js";

export const USAGE = `saslkit: SASL authentication for SMTP, IMAP and POP3

Usage:
  saslkit send  --host H [--port P] [--tls implicit|starttls|none] [--require-tls]
                [--ca FILE | --insecure] --user U --from A --to B [--to C ...]
                [--subject S] [--body TEXT | --file message.eml] [--mechanism M]
                [--debug] [--progress]
  saslkit probe smtp://host[:port] | smtps:// | imap:// | imaps:// | pop3:// | pop3s://
                [--user U] [--oauth] [--mechanism M] [--cleartext loopback|never|allow]
                [--tls implicit|starttls|none] [--ca FILE | --insecure] [--debug]
  saslkit demo  [--quiet]
  saslkit help | --version

The password comes from the SASLKIT_PASSWORD environment variable or a hidden prompt,
never from the command line. Without --body or --file, send reads the body from stdin.
`;

export const VERSION = "0.1.0";

/** Runs the command line `argv` (without node and script). Resolves with the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "send":
        return await (await import("./commands/send.js")).send(rest, io);
      case "probe":
        return await (await import("./commands/probe.js")).probe(rest, io);
      case "demo":
        return await (await import("./commands/demo.js")).demo(rest, io);
      case "help":
      case "--help":
      case "-h":
        io.stdout.write(USAGE);
        return 0;
      case "--version":
      case "-v":
        io.stdout.write(`saslkit ${VERSION}\n`);
        return 0;
      case undefined:
        io.stderr.write(USAGE);
        return 2;
      default:
        throw new UsageError(`unknown command "${command}".`);
    }
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr.write(`saslkit: ${(error as Error).message}\nRun "saslkit help" for usage.\n`);
      return 2;
    }
    io.stderr.write(`${formatError(error)}\n`);
    return 1;
  }
}

/** node:util parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for bad options. */
function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}
