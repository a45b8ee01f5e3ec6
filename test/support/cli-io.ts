/**
 * An in-memory CliIo for running `saslkit` in-process: captured stdout/stderr, a fixed
 * environment, a scripted prompt and in-memory files. Shared by the CLI package's tests and the
 * root CLI tests.
 */
import { PassThrough } from "node:stream";
import type { CliIo } from "@saslkit/cli";

export interface MemoryIoOptions {
  readonly env?: Record<string, string>;
  readonly prompt?: string;
  readonly stdin?: string;
  readonly stdinTty?: boolean;
  readonly files?: Record<string, string | Buffer>;
}

export function memoryIo(options: MemoryIoOptions = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const prompts: string[] = [];
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTty ?? false });
  stdin.end(options.stdin ?? "");
  const io: CliIo = {
    stdout: { write: (t: string) => void out.push(t), isTTY: false },
    stderr: { write: (t: string) => void err.push(t), isTTY: false },
    stdin,
    env: options.env ?? {},
    promptSecret: async (p) => {
      prompts.push(p);
      if (options.prompt === undefined) throw new Error("no prompt expected");
      return options.prompt;
    },
    readFile: async (path) => {
      const content = options.files?.[path];
      if (content === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return Buffer.from(content);
    },
  };
  return { io, stdout: () => out.join(""), stderr: () => err.join(""), prompts };
}
