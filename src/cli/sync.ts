// `beatsync sync <dance> <bgm> -o <dir>`: the finished videos and report.json in <dir>.
import { resolve } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import { syncFiles } from '../pipeline/index.ts';
import type { StageProgress, VariantName } from '../pipeline/index.ts';
import type { Command } from './commands.ts';
import { EXIT_OK, parseCommandArgs, progressDisplay, reportError, t } from './output.ts';

const VARIANTS: readonly VariantName[] = ['trimmed', 'full', 'alternate'];
/** The page's nudge control goes no further than this either way. */
const MAX_NUDGE_MS = 2000;

export const command: Command = {
  name: 'sync',
  summary: { en: 'replace the video\'s sound with the song, in sync, and trim the talk', zh: '用原曲替换视频声音并精确对齐，剪掉前后的讲话' },
  usage: 'beatsync sync <dance-video> <music> -o <dir> [--variant trimmed,full,alternate] [--nudge-ms N] [--json]',
  async run(args, io) {
    let json = args.includes('--json');
    try {
      const { values, positionals } = parseCommandArgs(args, {
        output: { type: 'string', short: 'o' },
        variant: { type: 'string' },
        'nudge-ms': { type: 'string' },
        json: { type: 'boolean' },
      });
      json = Boolean(values.json);
      if (positionals.length !== 2) throw new BeatSyncError('BAD_REQUEST', `expected 2 files, got ${positionals.length} (usage: ${command.usage})`);
      if (!values.output) throw new BeatSyncError('BAD_REQUEST', `missing -o <dir> (usage: ${command.usage})`);
      const variants = values.variant === undefined ? undefined : parseVariants(values.variant);
      const nudgeMs = values['nudge-ms'] === undefined ? 0 : parseNudge(values['nudge-ms']);
      const [dance, bgm] = positionals;
      const outDir = resolve(values.output);

      const display = json ? null : progressDisplay(io);
      const onProgress = (p: StageProgress) => {
        if (json) io.stdout.write(JSON.stringify({ type: 'progress', ...p }) + '\n');
        else display?.update(p);
      };
      let result;
      try {
        result = await syncFiles(dance, bgm, outDir, { variants, nudgeMs, signal: io.signal, onProgress });
      } finally {
        display?.done();
      }
      if (json) {
        io.stdout.write(JSON.stringify({ type: 'result', ...result }) + '\n');
        return EXIT_OK;
      }
      const L = io.lang;
      const lines = result.variants.map((v) => {
        const label = v.flagged ? t(L, ' (alternative alignment: check it)', '（备选对齐，请检查）') : '';
        return `  ${resolve(outDir, v.file)}  ${v.durationSeconds.toFixed(1)} s${label}`;
      });
      io.stdout.write(`${t(L, 'Done', '完成')}:\n${lines.join('\n')}\n  ${result.reportPath}\n`);
      return EXIT_OK;
    } catch (error) {
      return reportError(error, io, json, json ? { type: 'error' } : {});
    }
  },
};

function parseVariants(text: string): VariantName[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(VARIANTS as readonly string[]).includes(n));
  if (names.length === 0 || bad.length) throw new BeatSyncError('BAD_REQUEST', `--variant takes ${VARIANTS.join(',')} (got ${text})`);
  return names as VariantName[];
}

function parseNudge(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || Math.abs(n) > MAX_NUDGE_MS) throw new BeatSyncError('BAD_REQUEST', `--nudge-ms takes a number of ms within ±${MAX_NUDGE_MS} (got ${text})`);
  return n;
}
