import type { ParseArgsConfig } from 'node:util';
import type { Profiler } from './profile.js';

/** What every command gets and gives: the contract between the CLI's dispatcher and its commands. */

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  isTTY: boolean;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export interface Command {
  summary: string;
  usage: string;
  options: Options;
  run(args: Parsed, ctx: CommandContext): Promise<number>;
}

export interface CommandContext {
  io: Io;
  /** The command line as given (after `netboot`): a no-op stamp is named by it. */
  argv?: string[];
  profiler?: Profiler;
  signal: AbortSignal;
  warn: (msg: string) => void;
}
