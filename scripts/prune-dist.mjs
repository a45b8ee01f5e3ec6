#!/usr/bin/env node
/**
 * Deletes build output whose source is gone: `tsc -b` never removes dist/x.js after src/x.ts was
 * moved or deleted, and `pnpm pack` would ship it (the consumer test then finds its source map
 * pointing at a missing file). A fresh clone has nothing to prune; a developer's tree does after
 * files move between packages. Prints what it removed.
 */
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { root } from "./packages.mjs";

const OUTPUT = /\.(d\.ts\.map|d\.ts|js\.map|js)$/;
let removed = 0;
for (const pkg of readdirSync(join(root, "packages"))) {
  const dist = join(root, "packages", pkg, "dist");
  const src = join(root, "packages", pkg, "src");
  if (!existsSync(dist) || !existsSync(src)) continue;
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      if (!OUTPUT.test(name)) continue;
      const base = relative(dist, path).replace(OUTPUT, "");
      if (existsSync(join(src, `${base}.ts`)) || existsSync(join(src, `${base}.mts`)) || existsSync(join(src, `${base}.tsx`))) continue;
      rmSync(path);
      removed++;
      console.error(`pruned stale build output ${relative(root, path)}`);
    }
  };
  walk(dist);
}
if (removed) console.error(`pruned ${removed} stale file(s); the next build is complete again`);
