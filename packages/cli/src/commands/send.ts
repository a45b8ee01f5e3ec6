/**
 * `saslkit send`: one message through an SMTP submission server, authenticated with the
 * strongest mechanism both sides support.
 *
 * Order of work, so that a mistake costs nothing: arguments and addresses are checked first, then
 * the password is read (from the terminal, even when stdin carries the message), then the message
 * source is opened, and only then does the client connect.
 */
import type { Readable } from "node:stream";
import type { NegotiationPolicy } from "@saslkit/core";
import type { TlsSettings } from "@saslkit/transport";
import { NEGOTIATION, TLS_TRUST, list, parseCommand, str, type CommandSpec } from "../args.js";
import { UsageError, readAll, type CliIo } from "../io.js";
import { installedProviders } from "../mechanisms.js";
import { negotiationControls, obtainPassword, portOption, refuseSecretFlags, tlsTrust, type NegotiationControls } from "../options.js";
import { deliver } from "./send-smtp.js";

export const SEND: CommandSpec = {
  name: "send",
  summary: "send one message through an SMTP submission server",
  usage: "saslkit send --host HOST --user USER --from ADDR --to ADDR [--to ADDR ...] [--subject S] [--body TEXT | --file FILE|-] [options]",
  options: {
    host: { type: "string", value: "HOST", help: "the submission server" },
    port: { type: "string", value: "PORT", help: "default 465 with --tls implicit, 587 with starttls, 25 with none" },
    tls: { type: "string", value: "MODE", help: "implicit, starttls (required, the default) or none; port 465 means implicit" },
    ...TLS_TRUST,
    user: { type: "string", short: "u", value: "USER", help: "the login name" },
    from: { type: "string", short: "f", value: "ADDR", help: "envelope sender (and From: of a composed message)" },
    to: { type: "string", short: "t", multiple: true, value: "ADDR", help: "recipient (repeatable)" },
    subject: { type: "string", short: "s", value: "TEXT", help: "subject of a composed message" },
    body: { type: "string", value: "TEXT", help: "text of a composed message (default: read from stdin)" },
    file: { type: "string", value: "FILE", help: "send this RFC 5322 message as it is; - reads it from stdin" },
    ...NEGOTIATION,
    progress: { type: "boolean", help: "show upload progress (default: when stdout and stderr are terminals)" },
    "no-progress": { type: "boolean", help: "never show progress" },
    debug: { type: "boolean", short: "d", help: "print the transcript on stderr (secrets masked)" },
  },
  notes: `The password comes from SASLKIT_PASSWORD or a hidden prompt on the terminal (even when stdin
carries the message); there is no --password option.

Examples:
  saslkit send --host smtp.example.org --user alice --from alice@example.org --to bob@example.org --subject Hi --body Hello
  saslkit send --host smtp.example.org --user alice --from alice@example.org --to bob@example.org --file message.eml
  generate-report | saslkit send --host smtp.example.org --user alice --from alice@example.org --to bob@example.org --file -`,
};

/** Where the message comes from; read only after the password. */
export type MessageSource =
  | { readonly kind: "compose"; readonly subject: string; readonly text: string }
  | { readonly kind: "compose-stdin"; readonly subject: string }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "stdin" };

/** Everything `send` decided from its arguments, before any network I/O. */
export interface SendRequest {
  readonly host: string;
  readonly port: number;
  readonly tls: "implicit" | "starttls" | "none";
  readonly tlsOptions: TlsSettings;
  readonly user: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly source: MessageSource;
  readonly policy: NegotiationPolicy;
  readonly mechanismOptions: Readonly<Record<string, unknown>> | undefined;
  readonly installed: readonly string[];
  readonly debug: boolean;
  readonly progress: boolean;
}

/** A message ready to hand to the client. */
export type LoadedMessage =
  | { readonly kind: "compose"; readonly subject: string; readonly text: string }
  | { readonly kind: "raw"; readonly data: Buffer }
  | { readonly kind: "stream"; readonly stream: Readable; readonly size: number };

/**
 * A mailbox the CLI accepts, checked before connecting: no control characters, line breaks,
 * angle brackets or white space (outside a quoted local part), at most 320 characters, and the
 * form local@domain. The SMTP client checks again; this is for a message a person can act on.
 */
export function checkAddress(option: string, address: string): void {
  const problem =
    // eslint-disable-next-line no-control-regex
    /[\x00-\x1f\x7f]/.test(address) ? "contains a line break or another control character"
    : /[<>]/.test(address) ? "contains an angle bracket"
    : address.length > 320 ? "is longer than 320 characters"
    : /\s/.test(address.replace(/"[^"]*"/g, "")) ? "contains white space"
    : undefined;
  if (problem) throw new UsageError(`${option} "${address}" ${problem}.`);
  const at = address.lastIndexOf("@");
  if (at <= 0 || at === address.length - 1) throw new UsageError(`${option} "${address}" is not an address of the form name@domain.`);
}

/** Parses and validates `send`'s arguments. Reads neither the password nor the message. */
export async function parseSendArgs(argv: readonly string[], io: CliIo): Promise<SendRequest> {
  refuseSecretFlags(argv);
  const { values, positionals } = parseCommand(SEND, argv);
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}" (options start with --).`);
  const host = str(values.host);
  const user = str(values.user);
  const from = str(values.from);
  const to = list(values.to) ?? [];
  if (!host) throw new UsageError("--host is required.");
  if (!user) throw new UsageError("--user is required.");
  if (!from) throw new UsageError("--from is required.");
  if (!to.length) throw new UsageError("at least one --to is required.");
  checkAddress("--from", from);
  for (const address of to) checkAddress("--to", address);
  const body = str(values.body);
  const file = str(values.file);
  const subject = str(values.subject);
  if (body !== undefined && file !== undefined) throw new UsageError("--body and --file exclude each other.");
  if (file !== undefined && subject !== undefined) throw new UsageError("--subject goes with --body or a body on stdin; a --file message carries its own headers.");
  const tlsValue = str(values.tls);
  let tls: SendRequest["tls"];
  if (tlsValue === undefined) tls = str(values.port) === "465" ? "implicit" : "starttls";
  else if (tlsValue === "implicit" || tlsValue === "starttls" || tlsValue === "none") tls = tlsValue;
  else throw new UsageError(`--tls must be implicit, starttls or none, not "${tlsValue}".`);
  const port = portOption(str(values.port), tls === "implicit" ? 465 : tls === "starttls" ? 587 : 25);
  const tlsOptions = await tlsTrust({ ca: str(values.ca), insecure: values.insecure === true }, io);
  const installed = (await installedProviders()).map((p) => p.name);
  const controls: NegotiationControls = negotiationControls(values, installed);

  const source: MessageSource =
    file === "-" ? { kind: "stdin" } : file !== undefined ? { kind: "file", path: file } : body !== undefined ? { kind: "compose", subject: subject ?? "", text: body } : { kind: "compose-stdin", subject: subject ?? "" };
  const terminals = io.stdout.isTTY === true && io.stderr.isTTY === true;
  return {
    host,
    port,
    tls,
    tlsOptions,
    user,
    from,
    to,
    source,
    policy: controls.policy,
    mechanismOptions: controls.mechanismOptions,
    installed,
    debug: values.debug === true,
    progress: values["no-progress"] === true ? false : values.progress === true || terminals,
  };
}

/** True when `text` starts with RFC 5322 header fields followed by a blank line, one of them From, To, Subject, Date or Message-ID. */
export function looksLikeMessage(text: string): boolean {
  const end = text.search(/\r?\n\r?\n/);
  if (end <= 0) return false;
  const lines = text.slice(0, end).split(/\r?\n/);
  if (!lines.every((l) => /^[!-9;-~]+:/.test(l) || /^[ \t]/.test(l))) return false;
  return lines.some((l) => /^(from|to|subject|date|message-id):/i.test(l));
}

/** Reads or opens the message, after the password was obtained. */
export async function loadMessage(source: MessageSource, io: CliIo): Promise<LoadedMessage> {
  switch (source.kind) {
    case "compose":
      return source;
    case "compose-stdin": {
      if (io.stdin.isTTY) io.stderr.write("Type the message body, then Ctrl-D on a line of its own:\n");
      const text = (await readAll(io.stdin)).toString("utf8");
      // A whole message piped in without --file - would become the body of a new, subject-less
      // message: refuse and say what to do instead of sending that.
      if (source.subject === "" && looksLikeMessage(text)) {
        throw new UsageError("stdin holds a whole message (header fields, a blank line, a body): send it as it is with --file -, or give --subject to send this text as the body of a new message.");
      }
      return { kind: "compose", subject: source.subject, text };
    }
    case "stdin":
      if (io.stdin.isTTY) io.stderr.write("Paste the whole message (headers, blank line, body), then Ctrl-D on a line of its own:\n");
      return { kind: "raw", data: await readAll(io.stdin) };
    case "file":
      try {
        if (io.openFile) return { kind: "stream", ...(await io.openFile(source.path)) };
        return { kind: "raw", data: await io.readFile(source.path) };
      } catch (error) {
        throw new UsageError(`cannot read ${source.path} (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
      }
  }
}

export async function send(argv: readonly string[], io: CliIo): Promise<number> {
  const request = await parseSendArgs(argv, io);
  const password = await obtainPassword(io, request.user);
  const message = await loadMessage(request.source, io);
  await deliver(request, password, message, io);
  return 0;
}
