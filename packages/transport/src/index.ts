/**
 * @saslkit/transport: the line socket every saslkit adapter codes against (deadlines, bounded
 * lines, STARTTLS with injection check, channel binding, masked transcripts), strict base64, and
 * the test helpers (scripted transcript server, test certificates).
 */
export { TransportError, type TransportErrorCode } from "./errors.js";
export { Deadline } from "./deadline.js";
export {
  LineSocket,
  type AcceptOptions,
  type ConnectOptions,
  type ServerTlsOptions,
  type TlsSettings,
  type TranscriptEntry,
  type TranscriptSink,
  type WriteOptions,
} from "./line-socket.js";
export { decodeBase64, encodeBase64 } from "./base64.js";
export { channelBindingFor, endPointHash } from "./channel.js";
export { matchesExpected, parseScript, startScriptedServer, type ScriptStep, type ScriptedServer, type ScriptedServerOptions } from "./scripted-server.js";
export { testCertificates, type TestCertificates } from "./certs.js";
export { Redactor } from "./redactor.js";
