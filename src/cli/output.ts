// What the CLI prints: language choice, errors (JSON or human), exit codes, the progress display.
import { parseArgs } from 'node:util';
import type { Alignment } from '../align/types.ts';
import { BeatSyncError, messageFor, toBeatSyncError } from '../errors.ts';
import type { Lang } from '../errors.ts';
import type { StageProgress } from '../pipeline/types.ts';
import type { CliIo, OptionSpec, Text } from './commands.ts';

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

export function tx(lang: Lang, text: Text): string {
  return lang === 'zh-CN' ? text.zh : text.en;
}

/** Every command's `--help` switch, listed last. */
export const HELP_OPTION: OptionSpec = {
  name: 'help',
  short: 'h',
  help: { en: 'print this help and exit', zh: '显示本帮助并退出' },
};

/** node:util parseArgs over the command's option table, with usage mistakes turned into BAD_REQUEST. */
export function parseCommandArgs(args: string[], specs: readonly OptionSpec[]): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options = Object.fromEntries(specs.map((o) => [o.name, { type: o.value ? 'string' : 'boolean', ...(o.short ? { short: o.short } : {}) } as const]));
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new BeatSyncError('BAD_REQUEST', (error as Error).message.split('\n')[0]);
  }
}

/** A command's `--help`: usage, what it does, then one line per option with its default. */
export function commandHelp(c: { usage: string; summary: Text }, specs: readonly OptionSpec[], lang: Lang): string {
  const all = [...specs, HELP_OPTION];
  const names = all.map((o) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = all.map((o, i) => {
    const fallback = o.default ? t(lang, ` (default: ${o.default.en})`, `（默认：${o.default.zh}）`) : '';
    return `  ${names[i].padEnd(width)}${tx(lang, o.help)}${fallback}`;
  });
  return [`${t(lang, 'Usage', '用法')}: ${c.usage}`, '', tx(lang, c.summary), '', t(lang, 'Options:', '选项：'), ...lines, ''].join('\n');
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

/** Song time at the start of the video (the offset), as printed next to a place in the song. */
const place = (offsetSeconds: number): string => `${offsetSeconds.toFixed(3)} s`;
/** Places closer than this are the same place said twice (the alternate is also the first candidate). */
const SAME_PLACE_SECONDS = 0.05;
/** Rivals less likely than this are not worth a line (the engine's own bar for an alternate variant). */
const RIVAL_MIN_SCORE = 0.05;

/** The engine's confidence scale (see Alignment.confidence) in words. */
export function confidenceWords(confidence: number, lang: Lang): string {
  if (confidence >= 0.8) return t(lang, 'sure', '确定');
  if (confidence >= 0.5) return t(lang, 'found, but listen to check it', '找到了，但请听一下确认');
  return t(lang, 'doubtful: listen before you use it', '存疑：使用前请先听一下');
}

function listed(items: string[], lang: Lang): string {
  if (items.length < 2) return items.join('');
  return lang === 'zh-CN' ? items.join('、') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}

/**
 * What a reader must know beyond the offset, in plain words: places in the song that fit as well
 * (ambiguous) or nearly, several run-throughs, and music left out for being too short. One line each,
 * nothing when the answer is simple.
 */
export function describeDoubts(a: Alignment, alternate: Alignment | null, lang: Lang): string[] {
  const out: string[] = [];
  if (a.ambiguous) {
    const offsets = [a.offsetSeconds];
    const others = [...(alternate ? [alternate.offsetSeconds] : []), ...a.candidates.filter((c) => c.score >= 0.5).map((c) => c.offsetSeconds)];
    for (const o of others) if (!offsets.some((k) => Math.abs(k - o) < SAME_PLACE_SECONDS)) offsets.push(o);
    const n = offsets.length;
    out.push(t(
      lang,
      `Ambiguous: ${n === 2 ? 'two' : n} places in the song fit equally well: the video starts at song time ${listed(offsets.map(place), lang)}. Listen to ${n === 2 ? 'both' : 'each'}${alternate ? ' (sync renders the other one as the alternate variant)' : ''}.`,
      `无法确定：歌曲中有 ${n} 个位置同样吻合：视频开头对应歌曲的 ${listed(offsets.map(place), lang)}。请${n === 2 ? '两个' : '每个'}都听一下${alternate ? '（sync 会把另一个渲染为 alternate 版本）' : ''}。`,
    ));
  } else {
    if (alternate) {
      out.push(t(
        lang,
        `Another place fits less well: the video would start at song time ${place(alternate.offsetSeconds)} (${(alternate.confidence * 100).toFixed(0)}% likely; sync renders it as the alternate variant).`,
        `另一个位置吻合度较低：视频开头对应歌曲的 ${place(alternate.offsetSeconds)}（可能性 ${(alternate.confidence * 100).toFixed(0)}%；sync 会把它渲染为 alternate 版本）。`,
      ));
    }
    const rivals = a.candidates.filter((c) => c.score >= RIVAL_MIN_SCORE && !(alternate && Math.abs(c.offsetSeconds - alternate.offsetSeconds) < SAME_PLACE_SECONDS));
    if (rivals.length) {
      const items = rivals.slice(0, 3).map((c) => t(lang, `${place(c.offsetSeconds)} (${(c.score * 100).toFixed(0)}% as likely)`, `${place(c.offsetSeconds)}（可能性为最佳位置的 ${(c.score * 100).toFixed(0)}%）`));
      out.push(t(lang, `Other places considered (song time at the start of the video): ${listed(items, lang)}.`, `也考虑过的位置（视频开头对应的歌曲时间）：${listed(items, lang)}。`));
    }
  }
  if (a.segments.length > 1) {
    out.push(t(lang, `${a.segments.length} run-throughs (the music starts again):`, `共 ${a.segments.length} 遍（音乐重新开始过）：`));
    a.segments.forEach((s, i) => {
      const song = `${(s.offsetSeconds + s.speed * s.danceStart).toFixed(2)}–${(s.offsetSeconds + s.speed * s.danceEnd).toFixed(2)} s`;
      const main = Math.abs(s.offsetSeconds - a.offsetSeconds) < SAME_PLACE_SECONDS && Math.abs(s.danceStart - a.musicStart) < 0.5;
      out.push(t(
        lang,
        `  ${i + 1}. video ${s.danceStart.toFixed(2)}–${s.danceEnd.toFixed(2)} s = song ${song}, confidence ${(s.confidence * 100).toFixed(0)}%${main ? ' (the longest: the figures above)' : ''}`,
        `  ${i + 1}. 视频 ${s.danceStart.toFixed(2)}–${s.danceEnd.toFixed(2)} s = 歌曲 ${song}，置信度 ${(s.confidence * 100).toFixed(0)}%${main ? '（最长的一遍：即上面的数据）' : ''}`,
      ));
    });
  }
  for (const d of a.droppedSegments ?? []) {
    const length = (d.danceEnd - d.danceStart).toFixed(1);
    out.push(t(
      lang,
      `Dropped a ${length} s stretch of music at ${d.danceStart.toFixed(2)}–${d.danceEnd.toFixed(2)} s of the video: too short to count as a run-through.`,
      `忽略了视频 ${d.danceStart.toFixed(2)}–${d.danceEnd.toFixed(2)} s 处一段 ${length} s 的音乐：太短，不算一遍。`,
    ));
  }
  return out;
}

/** `beatsync analyze`'s human output. */
export function describeAnalysis(a: Alignment, alternate: Alignment | null, lang: Lang): string {
  return [
    `${t(lang, 'Offset', '偏移')}: ${a.offsetSeconds.toFixed(6)} s (${t(lang, 'song time at the start of the video', '视频开头对应的歌曲时间')})`,
    `${t(lang, 'Drift', '漂移')}: ${a.driftPpm.toFixed(1)} ppm`,
    `${t(lang, 'Music in the video', '视频中的音乐')}: ${a.musicStart.toFixed(2)} s – ${a.musicEnd.toFixed(2)} s`,
    `${t(lang, 'Confidence', '置信度')}: ${(a.confidence * 100).toFixed(0)}%${t(lang, ` (${confidenceWords(a.confidence, lang)})`, `（${confidenceWords(a.confidence, lang)}）`)}`,
    ...describeDoubts(a, alternate, lang),
  ].join('\n') + '\n';
}
