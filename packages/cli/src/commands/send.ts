/**
 * `saslkit send`: one message through an SMTP submission server, authenticated with the
 * strongest mechanism both sides support.
 */
import { parseArgs } from "node:util";
import type { TlsSettings } from "@saslkit/transport";
import { UsageError, readAll, type CliIo } from "../io.js";
import { obtainPassword, portOption, refuseSecretFlags, tlsTrust } from "../options.js";
import { deliver } from "./send-smtp.js";

/** Everything `send` decided from its arguments, before any network I/O. */
export interface SendRequest {
  readonly host: string;
  readonly port: number;
  readonly tls: "implicit" | "starttls" | "none";
  readonly requireTls: boolean;
  readonly tlsOptions: TlsSettings;
  readonly user: string;
  readonly from: string;
  readonly to: readonly string[];
  /** A composed message (subject + text) or a raw RFC 5322 message from --file / stdin. */
  readonly message: { readonly kind: "compose"; readonly subject: string; readonly text: string } | { readonly kind: "raw"; readonly data: Buffer };
  readonly mechanism: string | undefined;
  readonly debug: boolean;
  readonly progress: boolean;
}

/** Parses and validates `send`'s arguments; reads --file / stdin. Never reads the password. */
export async function parseSendArgs(argv: readonly string[], io: CliIo): Promise<SendRequest> {
  refuseSecretFlags(argv);
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      tls: { type: "string" },
      "require-tls": { type: "boolean" },
      ca: { type: "string" },
      insecure: { type: "boolean" },
      user: { type: "string" },
      from: { type: "string" },
      to: { type: "string", multiple: true },
      subject: { type: "string" },
      body: { type: "string" },
      file: { type: "string" },
      mechanism: { type: "string" },
      debug: { type: "boolean" },
      progress: { type: "boolean" },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}".`);
  if (!values.host) throw new UsageError("--host is required.");
  if (!values.user) throw new UsageError("--user is required.");
  if (!values.from) throw new UsageError("--from is required.");
  if (!values.to?.length) throw new UsageError("at least one --to is required.");
  if (values.body !== undefined && values.file !== undefined) throw new UsageError("--body and --file exclude each other.");
  if (values.file !== undefined && values.subject !== undefined) throw new UsageError("--subject goes with --body or stdin; a --file message carries its own headers.");
  let tls: SendRequest["tls"];
  if (values.tls === undefined) tls = values.port === "465" ? "implicit" : "starttls";
  else if (values.tls === "implicit" || values.tls === "starttls" || values.tls === "none") tls = values.tls;
  else throw new UsageError(`--tls must be implicit, starttls or none, not "${values.tls}".`);
  if (tls === "none" && values["require-tls"]) throw new UsageError("--require-tls contradicts --tls none.");
  const port = portOption(values.port, tls === "implicit" ? 465 : tls === "starttls" ? 587 : 25);
  const tlsOptions = await tlsTrust(values, io);

  let message: SendRequest["message"];
  if (values.file !== undefined) {
    try {
      message = { kind: "raw", data: await io.readFile(values.file) };
    } catch (error) {
      throw new UsageError(`cannot read ${values.file} (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
    }
  } else if (values.body !== undefined) {
    message = { kind: "compose", subject: values.subject ?? "", text: values.body };
  } else {
    if (io.stdin.isTTY) io.stderr.write("Type the message body, then Ctrl-D:\n");
    message = { kind: "compose", subject: values.subject ?? "", text: (await readAll(io.stdin)).toString("utf8") };
  }
  return {
    host: values.host,
    port,
    tls,
    // STARTTLS must succeed unless the user said --tls none: a stripped STARTTLS must not leak the password.
    requireTls: values["require-tls"] ?? tls !== "none",
    tlsOptions,
    user: values.user,
    from: values.from,
    to: values.to,
    message,
    mechanism: values.mechanism,
    debug: values.debug ?? false,
    progress: values.progress ?? io.stderr.isTTY === true,
  };
}

export async function send(argv: readonly string[], io: CliIo): Promise<number> {
  const request = await parseSendArgs(argv, io);
  const password = await obtainPassword(io, request.user);
  await deliver(request, password, io);
  return 0;
}
