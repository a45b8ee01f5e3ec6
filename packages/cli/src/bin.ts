#!/usr/bin/env node
// tsyringe (through @saslkit/core) needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import { processIo } from "./io.js";
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2), processIo());
