#!/usr/bin/env node
// prepublishOnly of every package: only `pnpm publish` replaces `workspace:^` with real version
// ranges; `npm publish` and `yarn publish` would ship the workspace: ranges, which no registry
// client can install. Refuse them before anything is packed.
const agent = process.env.npm_config_user_agent ?? "";
if (!agent.startsWith("pnpm/")) {
  console.error(`refusing to publish with "${agent.split(" ")[0] || "an unknown client"}": publish with pnpm (pnpm release), which replaces workspace: ranges.`);
  process.exit(1);
}
