// The CLI's command table: one module per command, loaded only when it runs or shows its help.
// A command module must stay cheap to import (its help and `beatsync --help` read it): whatever its
// work needs (the pipeline, the server, the job backends) is imported inside `run`.
// To add a command: write src/cli/<name>.ts exporting `command: Command`, add one line below.
import type { Lang } from '../errors.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  lang: Lang;
  /** Aborted on Ctrl-C: long commands stop their work and clean up. */
  signal: AbortSignal;
}

/** A text in both languages the CLI speaks. */
export interface Text {
  en: string;
  zh: string;
}

/** One command-line option: parsed by parseCommandArgs and listed by `--help` from the same entry. */
export interface OptionSpec {
  /** Long name, without the dashes. */
  name: string;
  short?: string;
  /** Placeholder of the value (`<dir>`); absent for a switch. */
  value?: string;
  help: Text;
  /** What applies when the option is not given (every option has one; only `--help` goes without). */
  default?: Text;
}

export interface Command {
  name: string;
  /** One line for `beatsync --help` (en, zh-CN). */
  summary: Text;
  usage: string;
  /** The text of `beatsync <name> --help`: every option with its description and default. */
  help(lang: Lang): string;
  /** Resolves with the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

export const COMMANDS: Record<string, () => Promise<Command>> = {
  sync: () => import('./sync.ts').then((m) => m.command),
  analyze: () => import('./analyze.ts').then((m) => m.command),
  serve: () => import('./serve.ts').then((m) => m.command),
};
