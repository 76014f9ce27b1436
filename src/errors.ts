// One error type for the whole product: a stable code for machines, a friendly
// message in zh-CN and en for people, and whether trying again can help.

export const ERROR_CODES = [
  'FILE_NOT_FOUND',
  'FILE_TOO_LARGE',
  'INVALID_FORMAT',
  'NO_AUDIO_TRACK',
  'NO_VIDEO_TRACK',
  'DURATION_LIMIT',
  'NO_MATCH',
  'PROCESSING_FAILED',
  'RESOURCE_LIMIT',
  'TIMEOUT',
  'CANCELLED',
  'RATE_LIMITED',
  'TOO_MANY_JOBS',
  'INTERRUPTED_TOO_OFTEN',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'CONFLICT',
  'BAD_REQUEST',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];
export type Lang = 'en' | 'zh-CN';

interface CodeInfo {
  en: string;
  zh: string;
  /** HTTP status the server answers with. */
  status: number;
  /** Whether the same work may succeed if tried again (crash, time-out, shortage). */
  retryable: boolean;
  /** Used instead of en/zh when the error carries message parameters ({name} is replaced). */
  enWith?: string;
  zhWith?: string;
}

const CODES: Record<ErrorCode, CodeInfo> = {
  FILE_NOT_FOUND: { status: 404, retryable: false, en: 'The file could not be found. Please upload it again.', zh: '找不到该文件，请重新上传。' },
  FILE_TOO_LARGE: { status: 413, retryable: false, en: 'The file is too large.', zh: '文件太大。' },
  INVALID_FORMAT: { status: 415, retryable: false, en: 'This is not a video or audio file we can read.', zh: '这不是可以识别的视频或音频文件。' },
  NO_AUDIO_TRACK: { status: 422, retryable: false, en: 'The file has no sound track.', zh: '该文件没有音轨。' },
  NO_VIDEO_TRACK: { status: 422, retryable: false, en: 'The dance file has no video picture.', zh: '舞蹈文件没有视频画面。' },
  DURATION_LIMIT: { status: 422, retryable: false, en: 'The file is longer than allowed.', zh: '文件时长超出限制。' },
  NO_MATCH: { status: 422, retryable: false, en: 'The music does not seem to be the song in the video. Please choose another music file.', zh: '这段音乐似乎不是视频中的歌曲，请换一个音乐文件。' },
  PROCESSING_FAILED: { status: 500, retryable: true, en: 'Processing failed. Please try again.', zh: '处理失败，请重试。' },
  RESOURCE_LIMIT: { status: 503, retryable: true, en: 'The server is busy right now. Please try again in a few minutes.', zh: '服务器繁忙，请几分钟后再试。' },
  TIMEOUT: { status: 504, retryable: true, en: 'Processing took too long and was stopped.', zh: '处理时间过长，已被停止。' },
  CANCELLED: { status: 409, retryable: false, en: 'The job was cancelled.', zh: '任务已取消。' },
  TOO_MANY_JOBS: {
    status: 429,
    retryable: true,
    en: 'You already have the most videos waiting that one account may queue. Please wait until some have finished, then submit again.',
    zh: '您排队等待处理的视频已达上限，请等部分完成后再提交。',
    enWith: 'You already have {limit} videos waiting or in progress, the most one account may queue. Please wait until one has finished, then submit again.',
    zhWith: '您已有 {limit} 个视频在排队或处理中，已达上限。请等其中一个完成后再提交。',
  },
  INTERRUPTED_TOO_OFTEN: {
    status: 500,
    retryable: false,
    en: 'Processing was interrupted too many times (the server restarted or ran short of resources while working on this video). Please try again later; if it keeps happening, this file may be the cause.',
    zh: '处理被中断的次数过多（处理此视频时服务器重启或资源不足）。请稍后重试；如果反复出现，可能是该文件导致的问题。',
  },
  RATE_LIMITED: { status: 429, retryable: true, en: 'Too many requests. Please slow down and try again shortly.', zh: '请求过于频繁，请稍后再试。' },
  UNAUTHORIZED: { status: 401, retryable: false, en: 'Please sign in again (missing or invalid token).', zh: '请重新登录（令牌缺失或无效）。' },
  NOT_FOUND: { status: 404, retryable: false, en: 'Not found.', zh: '未找到。' },
  CONFLICT: { status: 409, retryable: false, en: 'This cannot be done in the current state.', zh: '当前状态下无法执行此操作。' },
  BAD_REQUEST: { status: 400, retryable: false, en: 'The request is not valid.', zh: '请求无效。' },
};

export interface ErrorJson {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  detail?: string;
}

export class BeatSyncError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Technical detail for logs and reports (never a stack trace, never a host path in API answers). */
  readonly detail: string | undefined;
  /** Seconds after which trying again is worth it (HTTP `Retry-After`), when known. */
  readonly retryAfterSeconds: number | undefined;
  /** Values for the code's parameterised message (e.g. TOO_MANY_JOBS {limit}). */
  readonly messageParams: Readonly<Record<string, string | number>> | undefined;

  constructor(code: ErrorCode, detail?: string, options?: {
    retryable?: boolean; cause?: unknown; retryAfterSeconds?: number; messageParams?: Record<string, string | number>;
  }) {
    super(detail ? `${CODES[code].en} (${detail})` : CODES[code].en, { cause: options?.cause });
    this.name = 'BeatSyncError';
    this.code = code;
    this.retryable = options?.retryable ?? CODES[code].retryable;
    this.detail = detail;
    this.retryAfterSeconds = options?.retryAfterSeconds;
    this.messageParams = options?.messageParams;
  }

  toJSON(lang: Lang = 'en'): ErrorJson {
    const out: ErrorJson = { code: this.code, message: messageFor(this.code, lang, this.messageParams), retryable: this.retryable };
    if (this.detail) out.detail = this.detail;
    return out;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export function messageFor(code: ErrorCode, lang: Lang = 'en', params?: Readonly<Record<string, string | number>>): string {
  const info = CODES[code];
  const template = params ? (lang === 'zh-CN' ? info.zhWith : info.enWith) : undefined;
  if (template) return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params! ? String(params![name]) : whole));
  return lang === 'zh-CN' ? info.zh : info.en;
}

export function httpStatusFor(code: ErrorCode): number {
  return CODES[code].status;
}

/** Picks zh-CN or en from an Accept-Language header (or a browser language). */
export function langFrom(acceptLanguage: string | undefined | null): Lang {
  if (!acceptLanguage) return 'en';
  for (const part of acceptLanguage.split(',')) {
    const tag = part.split(';')[0].trim().toLowerCase();
    if (tag.startsWith('zh')) return 'zh-CN';
    if (tag.startsWith('en')) return 'en';
  }
  return 'en';
}

/** Wraps anything thrown into a BeatSyncError; unknown failures become PROCESSING_FAILED. */
export function toBeatSyncError(err: unknown): BeatSyncError {
  if (err instanceof BeatSyncError) return err;
  if (err && typeof err === 'object' && 'name' in err && (err as Error).name === 'AbortError') {
    return new BeatSyncError('CANCELLED', undefined, { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new BeatSyncError('PROCESSING_FAILED', detail, { cause: err });
}
