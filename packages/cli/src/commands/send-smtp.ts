import type { CliIo } from "../io.js";
import type { SendRequest } from "./send.js";

export async function deliver(_request: SendRequest, _password: string, _io: CliIo): Promise<void> {
  throw new Error("sending needs @saslkit/smtp's client, which has not landed yet.");
}
