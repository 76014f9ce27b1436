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

export function confidenceLevel(confidence: number): ConfidenceLevel {
  if (confidence >= 0.75) return 'high';
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
