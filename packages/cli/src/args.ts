/**
 * Command specifications: one table per command gives the parser (node:util parseArgs, strict),
 * the per-command help (`saslkit send --help`, `-h`, `saslkit help send`) and the suggestions
 * for misspelt flags, so the three cannot drift apart.
 */
import { parseArgs } from "node:util";
import { UsageError } from "./io.js";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  /** Placeholder shown in help (`--host HOST`). */
  readonly value?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Lines after the option list (examples, notes). */
  readonly notes?: string;
}

/** Shared by send and probe: TLS trust and the negotiation controls (issue: force/order/exclude/no-PLUS/binding type). */
export const TLS_TRUST: Record<string, OptionSpec> = {
  ca: { type: "string", value: "FILE", help: "trust this CA certificate (PEM) instead of the system roots" },
  insecure: { type: "boolean", help: "do not verify the server certificate (prints a warning)" },
};

export const NEGOTIATION: Record<string, OptionSpec> = {
  mechanism: { type: "string", short: "m", value: "NAME", help: "use exactly this SASL mechanism" },
  order: { type: "string", value: "A,B,...", help: "use only these mechanisms, in this order of preference" },
  exclude: { type: "string", multiple: true, value: "A,B,...", help: "never use these mechanisms (repeatable)" },
  "no-plus": { type: "boolean", help: "never use channel-binding (-PLUS) variants" },
  "channel-binding": { type: "string", value: "TYPE", help: "auto (default), tls-exporter, tls-server-end-point, tls-unique or none" },
  cleartext: { type: "string", value: "POLICY", help: "secret-revealing mechanisms without TLS: loopback (default), never or allow" },
};

const HELP: OptionSpec = { type: "boolean", short: "h", help: "show this help" };

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `candidates` to `word`, when it is close enough to be a typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export interface Parsed {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: string[];
  /** True when -h/--help was given: print `commandHelp(spec)` and exit 0. */
  readonly help: boolean;
}

/** Parses `argv` for `spec`; unknown flags become a UsageError naming the closest known flag. */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): Parsed {
  const options: Record<string, OptionSpec> = { ...spec.options, help: HELP };
  if (argv.includes("--help") || argv.includes("-h")) return { values: {}, positionals: [], help: true };
  try {
    const { values, positionals, tokens } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: Object.fromEntries(Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }])),
    });
    // parseArgs keeps the last of a repeated single-value option: `--host a --host b` would
    // connect somewhere the user may not have meant. A switch given twice is refused the same way
    // (a slip, or two option sets pasted together). The error names the flag, never its values
    // (one may be a secret typed in the wrong place).
    const seen = new Set<string>();
    for (const token of tokens) {
      if (token.kind !== "option" || options[token.name]?.multiple) continue;
      if (seen.has(token.name)) {
        throw new UsageError(`${spec.name}: --${token.name} is given more than once; ${options[token.name]?.type === "string" ? "it takes one value" : "it is a switch"}.`);
      }
      seen.add(token.name);
    }
    return { values: values as Parsed["values"], positionals, help: false };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const flag = /'([^']+)'/.exec((error as Error).message)?.[1] ?? "";
      const name = flag.replace(/^--?/, "").split("=", 1)[0]!;
      const guess = closest(name, Object.keys(options));
      throw new UsageError(`${spec.name}: unknown option ${flag.split("=", 1)[0]}.${guess ? ` Did you mean --${guess}?` : ""}`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      const flag = /'(-[^']+)'/.exec((error as Error).message)?.[1] ?? "";
      const o = Object.entries(options).find(([n, s]) => flag.includes(`--${n}`) || (s.short !== undefined && flag.includes(`-${s.short}`)));
      throw new UsageError(o && o[1].type === "string" ? `${spec.name}: --${o[0]} needs a value (${o[1].value ?? "VALUE"}).` : `${spec.name}: ${(error as Error).message.replace(/\.$/, "")}.`);
    }
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) throw new UsageError(`${spec.name}: ${(error as Error).message.replace(/\.$/, "")}.`);
    throw error;
  }
}

/** A string option (parseArgs types it loosely). */
export const str = (v: Parsed["values"][string]): string | undefined => (typeof v === "string" ? v : undefined);
/** Comma- or repeat-separated list option. */
export const list = (v: Parsed["values"][string]): string[] | undefined =>
  v === undefined || typeof v === "boolean" ? undefined : (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s);

/** The help text of one command. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""}`;
    return [flag, `${o.help}${o.multiple ? "" : ""}`] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return `saslkit ${spec.name}: ${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join("\n")}\n${spec.notes ? `\n${spec.notes.trimEnd()}\n` : ""}`;
}
