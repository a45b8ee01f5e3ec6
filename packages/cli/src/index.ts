/**
 * @saslkit/cli: the `saslkit` command (send, probe, demo). The binary is `dist/bin.js`; this
 * entry exports the same commands as functions for embedding and tests.
 */
export { EXIT, main, USAGE, VERSION } from "./main.js";
export { Interrupted, processIo, promptHidden, promptOnTerminal, readAll, UsageError, type CliIo, type OutputStream } from "./io.js";
export { terminalSafe } from "./terminal.js";
export { formatBytes, formatError, formatNegotiation, formatTranscriptEntry, describeProvider, viewOfPlan, type NegotiationView } from "./format.js";
export { installedProviders } from "./mechanisms.js";
