// What the CLI prints: language choice, errors (JSON or human), exit codes, the progress display.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { BeatSyncError, messageFor, toBeatSyncError } from '../errors.ts';
import type { Lang } from '../errors.ts';
import type { StageProgress } from '../pipeline/types.ts';
import type { CliIo } from './commands.ts';

export const EXIT_OK = 0;
export const EXIT_ERROR = 2;
export const EXIT_NO_MATCH = 3;

/** zh-CN when the locale (LC_ALL, then LC_MESSAGES, then LANG) is Chinese, else en. */
export function langFromEnv(env: NodeJS.ProcessEnv = process.env): Lang {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  return locale.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export function t(lang: Lang, en: string, zh: string): string {
  return lang === 'zh-CN' ? zh : en;
}

export function exitCodeFor(error: BeatSyncError): number {
  return error.code === 'NO_MATCH' ? EXIT_NO_MATCH : EXIT_ERROR;
}

/** The JSON body of an error: `{"error":{"code","message",…}}` (message in the user's language). */
export function errorJson(error: BeatSyncError, lang: Lang): { error: { code: string; message: string; detail?: string } } {
  const out: { code: string; message: string; detail?: string } = { code: error.code, message: messageFor(error.code, lang) };
  if (error.detail) out.detail = error.detail;
  return { error: out };
}

/** Prints an error (JSON on stdout with --json, a sentence on stderr otherwise) and returns the exit code. */
export function reportError(err: unknown, io: CliIo, json: boolean, extra: Record<string, unknown> = {}): number {
  const error = toBeatSyncError(err);
  if (json) io.stdout.write(JSON.stringify({ ...extra, ...errorJson(error, io.lang) }) + '\n');
  else io.stderr.write(`beatsync: ${messageFor(error.code, io.lang)}${error.detail ? ` (${error.detail})` : ''} [${error.code}]\n`);
  return exitCodeFor(error);
}

/** node:util parseArgs, with usage mistakes turned into BAD_REQUEST. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new BeatSyncError('BAD_REQUEST', (error as Error).message.split('\n')[0]);
  }
}

const BAR_WIDTH = 28;

/** Progress on stderr: a redrawn bar on a terminal, a plain line per stage/10 % otherwise. */
export function progressDisplay(io: CliIo): { update: (p: StageProgress) => void; done: () => void } {
  const tty = Boolean(io.stderr.isTTY);
  let lastLine = '';
  let lastPercentShown = -10;
  let lastStage = '';
  let drawn = false;
  return {
    update(p) {
      if (tty) {
        const filled = Math.round((p.percent / 100) * BAR_WIDTH);
        const line = `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${p.percent.toFixed(0).padStart(3)}% ${p.message}`;
        const width = Math.max(20, (io.stderr.columns ?? 80) - 1);
        const shown = line.slice(0, width).padEnd(Math.min(width, Math.max(lastLine.length, line.length)));
        if (shown !== lastLine) io.stderr.write(`\r${shown}`);
        lastLine = shown;
        drawn = true;
      } else if (p.stage !== lastStage || p.percent >= lastPercentShown + 10 || p.percent === 100) {
        if (p.percent === lastPercentShown && p.stage === lastStage) return;
        io.stderr.write(`${p.percent.toFixed(0)}% ${p.stage}: ${p.message}\n`);
        lastPercentShown = p.percent;
        lastStage = p.stage;
      }
    },
    done() {
      if (tty && drawn) io.stderr.write('\n');
    },
  };
}
