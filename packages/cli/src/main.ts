/**
 * The `saslkit` command: argument dispatch, help and exit statuses. Every command is a function
 * of its arguments and a `CliIo`, so tests run it in-process.
 *
 * Exit statuses (documented in the README):
 *   0    success (sent; probe found a usable mechanism; demo passed)
 *   1    failure: network, protocol, server refusal, or probe found no usable mechanism
 *   2    usage error (unknown command or option, an option given twice, bad value, missing argument, no password)
 *   3    authentication failed (credentials refused, or no mechanism both sides can use)
 *   4    TLS failure (handshake, certificate, STARTTLS missing where TLS is required)
 *   130  interrupted (Ctrl-C)
 *
 * Everything written goes through the terminal-safety filter (terminal.ts): text from a server
 * cannot reach the terminal as a control sequence.
 */
import { closest, commandHelp, type CommandSpec } from "./args.js";
import { FailureWithContext, exitStatusOf, formatError } from "./format.js";
import { Interrupted, UsageError, type CliIo } from "./io.js";
import { safeOutput } from "./terminal.js";

export const EXIT = { ok: 0, failure: 1, usage: 2, auth: 3, tls: 4, interrupted: 130 } as const;

export const VERSION = "0.1.0";

interface Command {
  readonly spec: () => Promise<CommandSpec>;
  readonly run: (argv: readonly string[], io: CliIo) => Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  send: { spec: async () => (await import("./commands/send.js")).SEND, run: async (a, io) => (await import("./commands/send.js")).send(a, io) },
  probe: { spec: async () => (await import("./commands/probe.js")).PROBE, run: async (a, io) => (await import("./commands/probe.js")).probe(a, io) },
  demo: { spec: async () => (await import("./commands/demo.js")).DEMO, run: async (a, io) => (await import("./commands/demo.js")).demo(a, io) },
};

export const USAGE = `saslkit: SASL authentication for SMTP, IMAP and POP3

Usage:
  saslkit send   --host H --user U --from A --to B [options]   send one message
  saslkit probe  smtp://host[:port] | smtps:// | imap:// | imaps:// | pop3:// | pop3s://
                                                               show the offer and the choice
  saslkit demo   [--quiet]                                     a full exchange on 127.0.0.1
  saslkit help [COMMAND]  |  saslkit COMMAND --help  |  saslkit --version

The password comes from the SASLKIT_PASSWORD environment variable or a hidden prompt on the
terminal, never from the command line.

Exit status: 0 success, 1 failure, 2 usage error, 3 authentication failed, 4 TLS failure,
130 interrupted.
`;

/** Runs the command line `argv` (without node and script). Resolves with the exit status; never rejects. */
export async function main(argv: readonly string[], rawIo: CliIo): Promise<number> {
  const io: CliIo = { ...rawIo, stdout: safeOutput(rawIo.stdout), stderr: safeOutput(rawIo.stderr), terminal: rawIo.terminal ?? rawIo.stderr };
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.stderr.write(USAGE);
      return EXIT.usage;
    }
    if (command === "help" || command === "--help" || command === "-h") {
      const topic = rest[0];
      if (topic === undefined) {
        io.stdout.write(USAGE);
        return EXIT.ok;
      }
      const found = COMMANDS[topic];
      if (!found) throw unknownCommand(topic);
      io.stdout.write(commandHelp(await found.spec()));
      return EXIT.ok;
    }
    if (command === "--version" || command === "-v" || command === "version") {
      io.stdout.write(`saslkit ${VERSION}\n`);
      return EXIT.ok;
    }
    const found = COMMANDS[command];
    if (!found) throw unknownCommand(command);
    if (rest.includes("--help") || rest.includes("-h")) {
      io.stdout.write(commandHelp(await found.spec()));
      return EXIT.ok;
    }
    return await found.run(rest, io);
  } catch (error) {
    if (error instanceof Interrupted) {
      io.stderr.write("saslkit: interrupted.\n");
      return EXIT.interrupted;
    }
    if (error instanceof UsageError) {
      const topic = command !== undefined && COMMANDS[command] ? `saslkit ${command} --help` : "saslkit help";
      io.stderr.write(`saslkit: ${error.message}\nRun "${topic}" for usage.\n`);
      return EXIT.usage;
    }
    const [failure, context] = error instanceof FailureWithContext ? [error.error, error.context] : [error, {}];
    io.stderr.write(`${formatError(failure, context)}\n`);
    return exitStatusOf(failure);
  }
}

function unknownCommand(name: string): UsageError {
  const guess = closest(name, Object.keys(COMMANDS));
  return new UsageError(`unknown command "${name}".${guess ? ` Did you mean "${guess}"?` : ""} Commands: ${Object.keys(COMMANDS).join(", ")}.`);
}
