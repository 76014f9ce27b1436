// The CLI's command table: one module per command, loaded only when it runs.
// To add a command (e.g. `serve`): write src/cli/<name>.ts exporting `command: Command`, add one line below.
import type { Lang } from '../errors.ts';

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  lang: Lang;
  /** Aborted on Ctrl-C: long commands stop their work and clean up. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  /** One line for `beatsync --help` (en, zh-CN). */
  summary: { en: string; zh: string };
  usage: string;
  /** Resolves with the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

export const COMMANDS: Record<string, () => Promise<Command>> = {
  sync: () => import('./sync.ts').then((m) => m.command),
  analyze: () => import('./analyze.ts').then((m) => m.command),
  serve: () => import('./serve.ts').then((m) => m.command),
};
