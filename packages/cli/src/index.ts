/**
 * @saslkit/cli: the `saslkit` command (send, probe, demo). The binary is `dist/bin.js`; this
 * entry exports the same commands as functions for embedding and tests.
 */
export { main, USAGE, VERSION } from "./main.js";
export { processIo, promptHidden, readAll, UsageError, type CliIo, type OutputStream } from "./io.js";
export { formatBytes, formatError, formatNegotiation, formatTranscriptEntry, describeProvider, viewOfPlan, type NegotiationView } from "./format.js";
export { installedProviders } from "./mechanisms.js";
