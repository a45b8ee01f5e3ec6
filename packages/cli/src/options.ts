/**
 * Option handling shared by the commands: TLS trust, the password, the ban on secrets in argv.
 */
import type { CleartextPolicy, NegotiationPolicy } from "@saslkit/core";
import { rules, type TlsSettings } from "@saslkit/transport";
import { closest, list, str, type Parsed } from "./args.js";
import { UsageError, type CliIo } from "./io.js";

/** The policy and mechanism options the negotiation flags ask for. */
export interface NegotiationControls {
  readonly policy: NegotiationPolicy;
  readonly mechanismOptions: Readonly<Record<string, unknown>> | undefined;
}

const BINDING_TYPES = ["tls-exporter", "tls-server-end-point", "tls-unique"] as const;

/**
 * --mechanism (force), --order, --exclude, --no-plus, --channel-binding, --cleartext. Every
 * mechanism name must be installed: a typo is answered with the installed list before any
 * connection, not with "no usable mechanism" after one.
 */
export function negotiationControls(values: Parsed["values"], installed: readonly string[]): NegotiationControls {
  const known = (option: string, names: readonly string[]): string[] =>
    names.map((raw) => {
      const name = raw.toUpperCase();
      if (installed.includes(name)) return name;
      const guess = closest(name, installed);
      throw new UsageError(`${option}: "${raw}" is not an installed mechanism.${guess ? ` Did you mean ${guess}?` : ""} Installed: ${installed.join(" ")}.`);
    });
  const force = str(values.mechanism);
  const order = list(values.order);
  const exclude = list(values.exclude) ?? [];
  if (force !== undefined && order !== undefined) throw new UsageError("--mechanism and --order exclude each other (--mechanism is an order of one).");
  const binding = str(values["channel-binding"]) ?? "auto";
  if (binding !== "auto" && binding !== "none" && !(BINDING_TYPES as readonly string[]).includes(binding)) {
    throw new UsageError(`--channel-binding must be auto, none, ${BINDING_TYPES.join(", ")}, not "${binding}".`);
  }
  const noPlus = values["no-plus"] === true || binding === "none";
  const excluded = [...known("--exclude", exclude), ...(noPlus ? installed.filter((n) => n.endsWith("-PLUS")) : [])];
  const cleartext = str(values.cleartext);
  if (cleartext !== undefined && cleartext !== "loopback" && cleartext !== "never" && cleartext !== "allow") {
    throw new UsageError(`--cleartext must be loopback, never or allow, not "${cleartext}".`);
  }
  const policy: NegotiationPolicy = {
    ...(force !== undefined ? { force: known("--mechanism", [force])[0]! } : {}),
    ...(order !== undefined ? { order: known("--order", order) } : {}),
    ...(excluded.length ? { exclude: [...new Set(excluded)] } : {}),
    ...(cleartext !== undefined ? { cleartext: cleartext as CleartextPolicy } : {}),
  };
  if (policy.force !== undefined && policy.exclude?.includes(policy.force)) throw new UsageError(`--mechanism ${policy.force} is also excluded (--exclude, --no-plus or --channel-binding none).`);
  // SCRAM reads options.scram.channelBinding: false turns binding off; a type name asks for that type.
  const mechanismOptions = binding === "auto" ? undefined : { scram: { channelBinding: binding === "none" ? false : binding } };
  return { policy, mechanismOptions };
}

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
    let ca: string;
    try {
      ca = (await io.readFile(values.ca)).toString("utf8");
    } catch (error) {
      throw new UsageError(`cannot read the CA file ${values.ca} (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
    }
    // The library's own CA rule (PEM holding a certificate), checked here so that the error names the flag and the file.
    if (!rules.certificate.check(ca)) throw new UsageError(`the CA file ${values.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
    return { ca };
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
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
}
