// API reference from the contract comments: `pnpm docs` writes docs/api/ (git-ignored).
// One section per publishable package, found like every other script finds them.
import { publicPackages } from "./scripts/packages.mjs";

/** @type {Partial<import("typedoc").TypeDocOptions>} */
export default {
  name: "saslkit",
  entryPointStrategy: "packages",
  entryPoints: publicPackages().map((p) => p.dir),
  packageOptions: { entryPoints: ["src/index.ts"], excludeInternal: true, excludePrivate: true },
  out: "docs/api",
  readme: "README.md",
  excludeInternal: true,
  treatWarningsAsErrors: false,
  treatValidationWarningsAsErrors: false,
};
