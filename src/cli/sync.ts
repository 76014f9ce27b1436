// `beatsync sync <dance> <bgm> -o <dir>`: the finished videos and report.json in <dir>.
import { resolve } from 'node:path';
import { BeatSyncError } from '../errors.ts';
import type { CompactLongSide, StageProgress, VariantName } from '../pipeline/types.ts';
import type { Command, OptionSpec } from './commands.ts';
import { commandHelp, confidenceWords, describeDoubts, EXIT_OK, parseCommandArgs, progressDisplay, reportError, t } from './output.ts';

const VARIANTS: readonly VariantName[] = ['trimmed', 'full', 'alternate', 'compact'];
/** The same choice as a job's `options.compactLongSide`. */
const COMPACT_LONG_SIDES: readonly CompactLongSide[] = [1280, 1920];
/** The page's nudge control goes no further than this either way. */
const MAX_NUDGE_MS = 2000;

const OPTIONS: OptionSpec[] = [
  {
    name: 'output',
    short: 'o',
    value: '<dir>',
    help: { en: 'directory for the videos and report.json (made if missing)', zh: '输出视频和 report.json 的目录（不存在则创建）' },
    default: { en: 'none: it is required', zh: '无，必须给出' },
  },
  {
    name: 'variant',
    value: '<list>',
    help: { en: `comma-separated videos to make: ${VARIANTS.join(', ')}`, zh: `要生成的视频，逗号分隔：${VARIANTS.join('、')}` },
    default: { en: 'trimmed,full, plus alternate when a second place in the song is plausible', zh: 'trimmed,full；歌曲中有第二个可能的位置时再加 alternate' },
  },
  {
    name: 'compact-long-side',
    value: '<px>',
    help: {
      en: `longest side of the phone-size compact video: ${COMPACT_LONG_SIDES.join(' or ')}`,
      zh: `手机版 compact 视频的长边像素：${COMPACT_LONG_SIDES.join(' 或 ')}`,
    },
    default: { en: '1280', zh: '1280' },
  },
  {
    name: 'nudge-ms',
    value: '<ms>',
    help: { en: `shift the music by this many ms (positive = later), within ±${MAX_NUDGE_MS}`, zh: `把音乐移动若干毫秒（正数 = 更晚），范围 ±${MAX_NUDGE_MS}` },
    default: { en: '0', zh: '0' },
  },
  {
    name: 'json',
    help: { en: 'JSON lines on stdout: {"type":"progress",…} while working, then {"type":"result",…}', zh: '在 stdout 上输出 JSON 行：处理中为 {"type":"progress",…}，最后为 {"type":"result",…}' },
    default: { en: 'off, i.e. a progress bar on stderr and the files on stdout', zh: '关，即 stderr 上显示进度，stdout 上列出文件' },
  },
];

export const command: Command = {
  name: 'sync',
  summary: { en: 'replace the video\'s sound with the song, in sync, and trim the talk', zh: '用原曲替换视频声音并精确对齐，剪掉前后的讲话' },
  usage: 'beatsync sync <dance-video> <music> -o <dir> [--variant trimmed,full,alternate,compact] [--compact-long-side 1280|1920] [--nudge-ms N] [--json]',
  help: (lang) => commandHelp(command, OPTIONS, lang),
  async run(args, io) {
    let json = args.includes('--json');
    try {
      const { values, positionals } = parseCommandArgs(args, OPTIONS);
      json = Boolean(values.json);
      const text = (name: string): string | undefined => {
        const v = values[name];
        return typeof v === 'string' ? v : undefined;
      };
      if (positionals.length !== 2) throw new BeatSyncError('BAD_REQUEST', `expected 2 files, got ${positionals.length} (usage: ${command.usage})`);
      const output = text('output');
      if (!output) throw new BeatSyncError('BAD_REQUEST', `missing -o <dir> (usage: ${command.usage})`);
      const variantText = text('variant');
      const variants = variantText === undefined ? undefined : parseVariants(variantText);
      const nudgeText = text('nudge-ms');
      const nudgeMs = nudgeText === undefined ? 0 : parseNudge(nudgeText);
      const sideText = text('compact-long-side');
      const compactLongSide = sideText === undefined ? undefined : parseLongSide(sideText);
      const [dance, bgm] = positionals;
      const outDir = resolve(output);
      // Loaded here, not at the top: `--help` must not pay for the engine and the renderer.
      const { syncFiles } = await import('../pipeline/sync.ts');

      const display = json ? null : progressDisplay(io);
      const onProgress = (p: StageProgress) => {
        if (json) io.stdout.write(JSON.stringify({ type: 'progress', ...p }) + '\n');
        else display?.update(p);
      };
      let result;
      try {
        result = await syncFiles(dance, bgm, outDir, { variants, nudgeMs, compactLongSide, signal: io.signal, onProgress });
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
      const a = result.report.alignment;
      const where = t(
        L,
        `Music in the video: ${a.musicStart.toFixed(2)} s – ${a.musicEnd.toFixed(2)} s, confidence ${(a.confidence * 100).toFixed(0)}% (${confidenceWords(a.confidence, L)})`,
        `视频中的音乐：${a.musicStart.toFixed(2)} s – ${a.musicEnd.toFixed(2)} s，置信度 ${(a.confidence * 100).toFixed(0)}%（${confidenceWords(a.confidence, L)}）`,
      );
      const doubts = describeDoubts(a, result.report.alternate, L);
      io.stdout.write(`${t(L, 'Done', '完成')}:\n${lines.join('\n')}\n  ${result.reportPath}\n${[where, ...doubts].join('\n')}\n`);
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

function parseLongSide(text: string): CompactLongSide {
  const n = Number(text);
  if (!(COMPACT_LONG_SIDES as readonly number[]).includes(n)) throw new BeatSyncError('BAD_REQUEST', `--compact-long-side takes ${COMPACT_LONG_SIDES.join(' or ')} (got ${text})`);
  return n as CompactLongSide;
}

function parseNudge(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || Math.abs(n) > MAX_NUDGE_MS) throw new BeatSyncError('BAD_REQUEST', `--nudge-ms takes a number of ms within ±${MAX_NUDGE_MS} (got ${text})`);
  return n;
}
