/**
 * SMTP half of `saslkit probe`: EHLO, STARTTLS when offered (or implicit TLS), EHLO again,
 * QUIT. Never authenticates. Reports the channel as the connection really is (`client.channel`):
 * which channel-binding types this TLS connection can produce, instead of assuming them.
 */
import { SmtpClient } from "@saslkit/smtp";
import { snapshotChannel as snapshot } from "./channel-snapshot.js";
import type { ProbeFindings, ProbeTarget } from "./probe.js";

export async function probeSmtp(target: ProbeTarget): Promise<ProbeFindings> {
  const client = await SmtpClient.connect({
    host: target.host,
    port: target.port,
    // Absent = STARTTLS whenever offered; without credentials the probe reports a cleartext-only server instead of failing.
    ...(target.tls === "starttls" ? {} : { tls: target.tls }),
    tlsOptions: target.tlsOptions,
    mechanisms: target.mechanisms,
    ...(target.transcript ? { transcript: target.transcript } : {}),
  });
  try {
    const caps = client.capabilities;
    const notes: string[] = [];
    if (target.tls === "starttls" && !client.secure) notes.push("the server does not offer STARTTLS: secrets would travel in clear.");
    if (caps.auth.length === 0) notes.push("the server advertises no AUTH on this channel.");
    const channel = snapshot(client.channel);
    if (channel.secure) {
      const types = channel.channelBinding?.types ?? [];
      notes.push(types.length ? `channel binding available on this TLS connection: ${types.join(", ")}.` : "this TLS connection offers no channel-binding data: *-PLUS mechanisms cannot be used.");
    }
    for (const quirk of client.quirks) notes.push(`server quirk recognised: ${quirk} (pipelining ${client.pipelining}).`);
    return {
      greeting: client.greeting.lines.join(" | "),
      capabilities: [...caps.keywords].map(([keyword, params]) => [keyword, ...params].join(" ")),
      offered: caps.auth,
      secure: client.secure,
      notes,
      channel,
    };
  } finally {
    await client.quit().catch(() => client.close());
  }
}
