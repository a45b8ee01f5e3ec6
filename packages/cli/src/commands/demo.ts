/**
 * `saslkit demo`, the README's main command: an embedded SMTP server on 127.0.0.1 with every
 * installed server half, and the saslkit SMTP client with every client half, sending one message
 * over STARTTLS. Prints the advertised AUTH line, the negotiation and why each other mechanism
 * was not chosen, the masked transcript, and the message as the server received it.
 */
import { SmtpClient, formatReply } from "@saslkit/smtp";
import type { TranscriptEntry } from "@saslkit/transport";
import { formatBytes, formatNegotiation, formatTranscriptEntry } from "../format.js";
import { parseCommand, type CommandSpec } from "../args.js";
import { UsageError, type CliIo } from "../io.js";
import { installedProviders } from "../mechanisms.js";
import { startDemoServer } from "./demo-server.js";

export const DEMO: CommandSpec = {
  name: "demo",
  summary: "one authenticated message to an embedded SMTP server on 127.0.0.1, with the negotiation explained",
  usage: "saslkit demo [--quiet]",
  options: { quiet: { type: "boolean", short: "q", help: "leave out the transcript and the received message" } },
  notes: "The demo never leaves 127.0.0.1; its password is random per run and never printed. It needs no openssl.",
};

export async function demo(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(DEMO, argv);
  if (positionals.length) throw new UsageError(`demo takes no arguments, not "${positionals[0]}".`);
  const out = (text = "") => io.stdout.write(`${text}\n`);
  const verbose = !values.quiet;
  const demoServer = await startDemoServer();
  const { server, user, password } = demoServer;
  const clientTranscript: TranscriptEntry[] = [];
  try {
    out("saslkit demo: one authenticated message to an embedded SMTP server (127.0.0.1 only)");
    out();
    out(`1. Server: 127.0.0.1:${server.port}, STARTTLS with a throwaway self-signed certificate`);
    out(`   server halves: ${demoServer.mechanisms.join(" ")}`);
    out(`   demo user "${user}", random password (never printed)`);

    const providers = await installedProviders();
    const client = await SmtpClient.connect({
      host: "127.0.0.1",
      port: server.port,
      tls: "starttls",
      tlsOptions: { ca: demoServer.ca, servername: "localhost" },
      ehloName: "demo-client.saslkit.test",
      auth: { username: user, password },
      mechanisms: providers,
      timeouts: { connect: 15_000, reply: 10_000, data: 10_000 },
      transcript: (entry) => clientTranscript.push(entry),
    });
    let result;
    try {
      const authLines = demoServer.transcript.filter((e) => e.direction === "S" && /^250[ -]AUTH /.test(e.text)).map((e) => e.text.slice(4));
      out();
      out("2. What the server advertises");
      if (authLines.length > 1) out(`   before TLS: ${authLines[0]}   (secret-revealing mechanisms are hidden in clear)`);
      out(`   after TLS:  ${authLines.at(-1) ?? "(no AUTH line)"}`);

      out();
      out(`3. Negotiation (client has ${providers.length} mechanisms installed: ${providers.map((p) => p.name).join(" ")})`);
      const negotiation = client.negotiation;
      if (negotiation) for (const line of formatNegotiation(negotiation, providers)) out(`   ${line}`);
      out(`   authenticated with ${client.authenticatedWith} over ${client.secure ? "TLS" : "cleartext"}`);

      result = await client.send(
        {
          from: `${user}@demo.saslkit.test`,
          to: ["bob@demo.saslkit.test"],
          subject: "Hello from saslkit demo",
          text: `This message was sent after authenticating with ${client.authenticatedWith}.\n.A line starting with a dot arrives intact.\n`,
        },
        { from: `${user}@demo.saslkit.test`, to: ["bob@demo.saslkit.test"] },
      );
    } finally {
      await client.quit().catch(() => client.close());
    }

    if (verbose) {
      out();
      out("4. Transcript (client side; every line sent during AUTH is masked)");
      for (const entry of clientTranscript) out(`   ${formatTranscriptEntry(entry)}`);
    }

    const received = server.messages.at(-1);
    out();
    out("5. The message as the server received it");
    if (!received) throw new Error("the server accepted no message.");
    const env = received.envelope;
    out(`   envelope: MAIL FROM:<${env.mailFrom}> RCPT TO:${env.rcptTo.map((r) => `<${r}>`).join(",")}`);
    out(`   session:  authenticated as ${env.auth?.identity.authcid} with ${env.auth?.mechanism}, ${env.secure ? "TLS" : "cleartext"}, ${formatBytes(received.data.length)}`);
    if (verbose) {
      out("   ----------------------------------------------------------------");
      for (const line of received.data.toString("utf8").replace(/\r\n$/, "").split("\r\n")) out(`   ${line}`);
      out("   ----------------------------------------------------------------");
    }

    // Self-check: no secret in either transcript, in any encoding we know of.
    const all = [...clientTranscript, ...demoServer.transcript].map((e) => e.text).join("\n");
    const leaks = [password, Buffer.from(password).toString("base64"), Buffer.from(`\0${user}\0${password}`).toString("base64")].filter((s) => all.includes(s));
    out();
    if (leaks.length) {
      io.stderr.write("error: the password appeared in a transcript; this is a bug, please report it.\n");
      return 1;
    }
    out(`Done: ${formatReply(result.reply)}. The password appears in neither transcript.`);
    return 0;
  } finally {
    await server.close();
  }
}
