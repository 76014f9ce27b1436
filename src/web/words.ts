// Numbers in words people read: sizes, speeds, durations, and the alignment's confidence and clock drift.
import type { Lang } from './i18n.ts';

export function formatBytes(n: number, lang: Lang = 'en'): string {
  const units = lang === 'zh-CN' ? ['B', 'KB', 'MB', 'GB'] : ['B', 'KB', 'MB', 'GB'];
  let value = Math.max(0, n);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 ? 0 : value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** 0:07, 1:05, 1:02:03 */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.round(Number.isFinite(seconds) ? seconds : 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export type ConfidenceLevel = 'high' | 'fair' | 'low';

/** Below this calibrated probability (or when ambiguous) the page says first that it is not sure. */
export const DOUBT_LINE = 0.8;

export function confidenceLevel(confidence: number): ConfidenceLevel {
  if (confidence >= DOUBT_LINE) return 'high';
  if (confidence >= 0.45) return 'fair';
  return 'low';
}

/**
 * The phone clock's error. BGM seconds per recorded second = speed: a phone whose clock runs fast records
 * more (nominal) seconds than really passed, so speed < 1 means "fast".
 */
export function driftWords(driftPpm: number, lang: Lang): string {
  const percent = Math.abs(driftPpm) / 1e4;
  if (percent < 0.0005) return lang === 'zh-CN' ? '手机时钟与音乐完全一致' : "the phone's clock kept perfect time";
  const shown = percent >= 0.1 ? percent.toFixed(2) : percent >= 0.01 ? percent.toFixed(3) : percent.toFixed(4);
  const fast = driftPpm < 0;
  if (lang === 'zh-CN') return `手机时钟${fast ? '快' : '慢'}了 ${shown}%，已校正`;
  return `the phone's clock ran ${shown}% ${fast ? 'fast' : 'slow'}, corrected`;
}

export function alignmentSentence(alignment: { confidence: number; driftPpm: number }, lang: Lang): string {
  const level = confidenceLevel(alignment.confidence);
  const head = lang === 'zh-CN'
    ? { high: '匹配可信度高', fair: '匹配可信度一般，建议听一下确认', low: '匹配可信度低，请仔细听一下' }[level]
    : { high: 'Matched with high confidence', fair: 'Matched with fair confidence — have a listen to check', low: 'Matched with low confidence — please listen carefully' }[level];
  return `${head}${lang === 'zh-CN' ? '；' : '; '}${driftWords(alignment.driftPpm, lang)}${lang === 'zh-CN' ? '。' : '.'}`;
}

/** Seconds → "+1.234 s" style offset for the details line. */
export function formatOffset(seconds: number): string {
  const sign = seconds < 0 ? '−' : '+';
  return `${sign}${Math.abs(seconds).toFixed(3)} s`;
}

/** "in 2 days", "in 5 hours", or "expired". */
export function formatExpiry(expiresAt: string | null, now: number, lang: Lang): string | null {
  if (!expiresAt) return null;
  const ms = Date.parse(expiresAt) - now;
  if (!Number.isFinite(ms)) return null;
  if (ms <= 0) return lang === 'zh-CN' ? '已过期' : 'expired';
  const hours = ms / 3_600_000;
  if (lang === 'zh-CN') return hours >= 48 ? `${Math.floor(hours / 24)} 天后过期` : hours >= 1 ? `${Math.floor(hours)} 小时后过期` : `${Math.max(1, Math.floor(ms / 60_000))} 分钟后过期`;
  if (hours >= 48) return `expires in ${Math.floor(hours / 24)} days`;
  if (hours >= 1) return `expires in ${Math.floor(hours)} h`;
  return `expires in ${Math.max(1, Math.floor(ms / 60_000))} min`;
}

/** Not sure enough to show one answer as the answer (older jobs have no `ambiguous`: confidence alone). */
export function isDoubtful(alignment: { confidence: number; ambiguous?: boolean } | null | undefined): boolean {
  if (!alignment) return false;
  return alignment.ambiguous === true || !(alignment.confidence >= DOUBT_LINE);
}

/** Where the recording sits in the song, for a teacher: "starts 3.3 s before the song" / "starts at 1:02 of the song". */
export function placeWords(offsetSeconds: number, lang: Lang): string {
  if (offsetSeconds < -0.05) {
    const s = (-offsetSeconds).toFixed(1);
    return lang === 'zh-CN' ? `录像比歌曲早开始 ${s} 秒` : `Your recording starts ${s} s before the song`;
  }
  const at = offsetSeconds < 0.05 ? null : formatClock(offsetSeconds);
  if (lang === 'zh-CN') return at ? `录像从歌曲的 ${at} 处开始` : '录像和歌曲同时开始';
  return at ? `Your recording starts at ${at} of the song` : 'Your recording and the song start together';
}

/** How much of the recording backs the found place, in words rather than "22 of 39 checks". */
export function agreementWords(used: number | undefined, total: number | undefined, lang: Lang): string {
  if (!total || used === undefined) return '';
  const share = used / total;
  const level = share >= 0.7 ? 'most' : share >= 0.4 ? 'half' : 'few';
  if (lang === 'zh-CN') return { most: '录像的大部分都与这个位置吻合', half: '录像只有约一半与这个位置吻合', few: '录像只有一小部分与这个位置吻合' }[level];
  return { most: 'most of the recording fits this place', half: 'only about half of the recording fits this place', few: 'only a small part of the recording fits this place' }[level];
}

/** One run-through: "0:04–0:40 of your video, song from 1:02". */
export function segmentWords(segment: { danceStart: number; danceEnd: number; offsetSeconds: number; speed?: number }, lang: Lang): string {
  const from = formatClock(segment.danceStart);
  const to = formatClock(segment.danceEnd);
  const song = formatClock(Math.max(0, segment.offsetSeconds + (segment.speed ?? 1) * segment.danceStart));
  return lang === 'zh-CN' ? `录像 ${from}–${to}，歌曲从 ${song} 起` : `${from}–${to} of your video, song from ${song}`;
}
