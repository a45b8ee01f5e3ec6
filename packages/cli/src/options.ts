/**
 * Option handling shared by the commands: TLS trust, the password, the ban on secrets in argv.
 */
import type { TlsSettings } from "@saslkit/transport";
import { UsageError, type CliIo } from "./io.js";

/** saslkit never accepts a secret on the command line (shell history, `ps`). */
export function refuseSecretFlags(argv: readonly string[]): void {
  for (const arg of argv) {
    const name = arg.split("=", 1)[0];
    if (name === "--password" || name === "-p" || name === "--pass" || name === "--token") {
      throw new UsageError(`${name} is not accepted: saslkit never takes a secret on the command line. Set SASLKIT_PASSWORD or answer the prompt.`);
    }
  }
}

/** TLS trust from `--ca FILE` / `--insecure` (mutually exclusive). */
export async function tlsTrust(values: { ca?: string | undefined; insecure?: boolean | undefined }, io: CliIo): Promise<TlsSettings> {
  if (values.ca !== undefined && values.insecure) throw new UsageError("--ca and --insecure exclude each other.");
  if (values.insecure) {
    io.stderr.write("warning: --insecure: the server certificate is not verified; anyone on the path can read the credentials.\n");
    return { rejectUnauthorized: false };
  }
  if (values.ca !== undefined) {
    try {
      return { ca: (await io.readFile(values.ca)).toString("utf8") };
    } catch (error) {
      throw new UsageError(`cannot read the CA file ${values.ca} (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
    }
  }
  return {};
}

/** The password: SASLKIT_PASSWORD, else a hidden prompt on the terminal. */
export async function obtainPassword(io: CliIo, user: string): Promise<string> {
  const fromEnv = io.env.SASLKIT_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return io.promptSecret(`Password for ${user}: `);
}

/** Parses a port number option. */
export function portOption(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new UsageError(`--port must be a number from 1 to 65535, not "${value}".`);
  return Number(value);
}

/** True for 127.0.0.0/8, ::1 and "localhost" (for planning only: the adapters check the real peer). */
export function isLoopbackHost(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
