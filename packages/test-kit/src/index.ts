/**
 * @saslkit/test-kit: the helpers saslkit's own tests share. Private: never a dependency of a
 * published package (tRPC keeps its test helpers the same way).
 */
export { matchesExpected, parseScript, startScriptedServer, type ScriptStep, type ScriptedServer, type ScriptedServerOptions } from "./scripted-server.js";
export { testCertificates, type TestCertificates } from "./certs.js";
export { rejectionOf, transportErrorCode } from "./rejection.js";
