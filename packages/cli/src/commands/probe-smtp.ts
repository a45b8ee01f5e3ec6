import type { ProbeFindings, ProbeTarget } from "./probe.js";

export async function probeSmtp(_target: ProbeTarget): Promise<ProbeFindings> {
  throw new Error("SMTP probing needs @saslkit/smtp's client, which has not landed yet.");
}
