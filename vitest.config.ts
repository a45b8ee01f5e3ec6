import { existsSync } from "node:fs";
import { defineConfig } from "vitest/config";

const serverSetup = "test/servers/global-setup.ts";

export default defineConfig({
  // Vite 8 transpiles with Oxc: legacy (experimentalDecorators) semantics and design:paramtypes
  // for every file, whether or not a tsconfig "include" covers it.
  oxc: { decorator: { legacy: true, emitDecoratorMetadata: true } },
  // @saslkit/* resolve to src/index.ts through the "@saslkit/source" export condition: no build before tests.
  ssr: { resolve: { conditions: ["@saslkit/source", "module", "node", "development|production"] } },
  test: {
    setupFiles: ["reflect-metadata"],
    include: ["test/**/*.test.ts", "packages/*/test/**/*.test.ts"],
    // Starts the real Postfix and Dovecot once per run (SASLKIT_SERVERS=off skips them for unit-only runs).
    globalSetup: existsSync(serverSetup) ? [serverSetup] : [],
    testTimeout: 20_000,
    hookTimeout: 120_000,
  },
});
