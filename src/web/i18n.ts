// The page's words in English and Simplified Chinese; the language comes from the browser and can be switched.
export type Lang = 'en' | 'zh-CN';

const en = {
  appName: 'BeatSync',
  tagline: 'Put the clean song on your class video, in perfect sync.',
  navNew: 'New video',
  navHistory: 'My videos',
  switchLang: '中文',
  switchLangLabel: 'Switch to Chinese',
  danceTitle: '1. Class video',
  danceHint: 'The phone recording of the class (with its room sound).',
  bgmTitle: '2. Music',
  bgmHint: 'The clean song: an audio file or a video with the song.',
  choose: 'Choose file',
  chooseOther: 'Choose another',
  dropHere: 'or drop it here',
  remove: 'Remove',
  retry: 'Retry now',
  uploading: 'Uploading…',
  checking: 'Checking the file…',
  uploaded: 'Ready',
  resumeNeeded: 'Upload of “{name}” stopped at {percent}%. Choose the same file again to continue.',
  resumed: 'Continuing where it stopped ({done} already sent)',
  offlineWait: 'No connection — waiting to continue…',
  retryIn: 'Connection lost — trying again in {s} s',
  sizeLine: '{done} of {total}',
  speedLine: '{speed}/s',
  videoFacts: 'Video {duration} · with sound',
  audioFacts: 'Audio {duration}',
  videoAsMusic: 'Video {duration} · its sound will be used',
  sync: 'Sync',
  syncHintWaiting: 'Add both files to start.',
  syncHintUploading: 'You can press Sync as soon as both uploads finish.',
  syncHintReady: 'Ready. This usually takes a minute or two.',
  submitting: 'Starting…',
  jobTitle: 'Syncing your video',
  stageUpload: 'Upload',
  stageAnalyse: 'Find the song',
  stageRender: 'Make the video',
  stageFinish: 'Finish',
  queued: 'Waiting in line (position {n})',
  queuedNoPos: 'Waiting in line',
  retrying: 'Something went wrong, trying again…',
  elapsed: 'Elapsed {t}',
  remaining: 'about {t} left',
  almostDone: 'almost done',
  leaveSafe: 'You can close this page: the work continues, and “My videos” brings it back.',
  cancel: 'Cancel',
  cancelling: 'Cancelling…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  polling: 'Checking every few seconds',
  cancelled: 'Cancelled.',
  runAgain: 'Run again',
  startOver: 'Start a new video',
  failed: 'This did not work.',
  noMatchTitle: 'The song does not seem to be the one in the video.',
  noMatchHelp: 'Check that the music file is the same song the class danced to, then pick it again.',
  pickOtherMusic: 'Choose another music file',
  tryAgain: 'Try again',
  doneTitle: 'Your video is ready',
  variant_trimmed: 'Trimmed',
  variant_full: 'Full length',
  variant_alternate: 'Second guess',
  variantHint_trimmed: 'Only the dancing, with the clean song. Talk before and after is cut.',
  variantHint_full: 'The whole recording: the clean song while the music plays, the room sound around it.',
  variantHint_alternate: 'The second most likely position of the song — try it if the main one sounds off.',
  compare: 'Compare side by side',
  compareOff: 'Single view',
  playBoth: 'Play both',
  alignmentTitle: 'How the song lines up',
  alignmentLegendRec: 'Your recording',
  alignmentLegendMusic: 'Clean song at the found position',
  alignmentNoLocal: 'The picture of your recording is only available on the device that uploaded it.',
  alignmentLoading: 'Drawing…',
  details: 'Song starts {offset} into the music · speed {speed} · {windows}',
  windowsAgree: '{used} of {total} checks agree',
  nudgeTitle: 'Fine-tune',
  nudgeHelp: 'If the music feels early or late, shift it and listen. Positive = music later.',
  nudgeLabel: 'Shift (ms)',
  nudgeMinus: 'Music earlier by {n} ms',
  nudgePlus: 'Music later by {n} ms',
  previewPlay: 'Preview with this shift',
  previewStop: 'Stop preview',
  previewNeedsAudio: 'Loading the music for the preview…',
  renderNudge: 'Render with this shift',
  downloadsTitle: 'Download',
  download: 'Download {variant}',
  share: 'Share…',
  sharing: 'Preparing…',
  expires: 'Kept until {date}',
  historyTitle: 'My videos',
  historyEmpty: 'No videos yet. Start with “New video”.',
  loadMore: 'Load more',
  open: 'Open',
  delete: 'Delete',
  deleteConfirm: 'Delete this video and its files from the server? This cannot be undone.',
  deleteFailed: 'Could not delete: {message}',
  status_queued: 'Waiting',
  status_running: 'Working',
  status_retrying: 'Retrying',
  status_succeeded: 'Ready',
  status_failed: 'Failed',
  status_cancelled: 'Cancelled',
  duration: '{t}',
  created: '{date}',
  offlineBanner: 'You are offline. Everything continues when the connection is back.',
  notFoundJob: 'This video is not here any more (it may have expired or belong to another device).',
  genericError: 'Something went wrong: {message}',
  errNext_INVALID_FORMAT: 'Choose a video or audio file (for example MP4, MOV, MP3, M4A).',
  errNext_NO_AUDIO_TRACK: 'This file has no sound. Choose a file with sound.',
  errNext_NO_VIDEO_TRACK: 'Choose the video recorded in class (this file has no picture).',
  errNext_DURATION_LIMIT: 'Cut the file shorter and try again.',
  errNext_FILE_TOO_LARGE: 'Choose a smaller file, or export it at a lower quality.',
  errNext_RESOURCE_LIMIT: 'Wait a few minutes and try again.',
  errNext_RATE_LIMITED: 'Wait a moment and try again.',
  errNext_FILE_NOT_FOUND: 'The uploaded files have expired. Choose them again.',
  errNext_PROCESSING_FAILED: 'Try again; if it keeps failing, try another copy of the files.',
  errNext_TIMEOUT: 'Try again with a shorter video.',
} as const;

export type Key = keyof typeof en;

const zh: Record<Key, string> = {
  appName: 'BeatSync',
  tagline: '把干净的音乐配到课堂视频上，完全同步。',
  navNew: '新视频',
  navHistory: '我的视频',
  switchLang: 'English',
  switchLangLabel: '切换到英文',
  danceTitle: '1. 课堂视频',
  danceHint: '手机录的课堂视频（带现场声音）。',
  bgmTitle: '2. 音乐',
  bgmHint: '干净的歌曲：音频文件，或带这首歌的视频。',
  choose: '选择文件',
  chooseOther: '换一个文件',
  dropHere: '或拖到这里',
  remove: '移除',
  retry: '立即重试',
  uploading: '正在上传…',
  checking: '正在检查文件…',
  uploaded: '已就绪',
  resumeNeeded: '“{name}”上传到 {percent}% 时中断。请再次选择同一个文件继续。',
  resumed: '从中断处继续（已上传 {done}）',
  offlineWait: '没有网络，恢复后会继续…',
  retryIn: '连接中断，{s} 秒后重试',
  sizeLine: '{done} / {total}',
  speedLine: '{speed}/秒',
  videoFacts: '视频 {duration} · 有声音',
  audioFacts: '音频 {duration}',
  videoAsMusic: '视频 {duration} · 将使用其中的声音',
  sync: '同步',
  syncHintWaiting: '请先添加两个文件。',
  syncHintUploading: '两个文件上传完成后即可点击“同步”。',
  syncHintReady: '准备好了，通常只需一两分钟。',
  submitting: '正在开始…',
  jobTitle: '正在同步你的视频',
  stageUpload: '上传',
  stageAnalyse: '查找歌曲',
  stageRender: '生成视频',
  stageFinish: '完成',
  queued: '排队中（第 {n} 位）',
  queuedNoPos: '排队中',
  retrying: '出了点问题，正在重试…',
  elapsed: '已用 {t}',
  remaining: '大约还需 {t}',
  almostDone: '马上就好',
  leaveSafe: '可以关闭此页面：处理会继续，在“我的视频”里可以找回。',
  cancel: '取消',
  cancelling: '正在取消…',
  live: '实时',
  reconnecting: '正在重新连接…',
  polling: '每隔几秒刷新',
  cancelled: '已取消。',
  runAgain: '重新运行',
  startOver: '开始新视频',
  failed: '没有成功。',
  noMatchTitle: '这段音乐似乎不是视频中的歌曲。',
  noMatchHelp: '请确认音乐文件就是课堂上跳的那首歌，然后重新选择。',
  pickOtherMusic: '换一个音乐文件',
  tryAgain: '重试',
  doneTitle: '视频已完成',
  variant_trimmed: '精剪版',
  variant_full: '完整版',
  variant_alternate: '备选位置',
  variantHint_trimmed: '只保留跳舞部分，配上干净的音乐，前后的讲话已剪掉。',
  variantHint_full: '完整录像：音乐部分换成干净的歌曲，其余保留现场声音。',
  variantHint_alternate: '歌曲的第二可能位置——如果主版本听起来不对，可以试试这个。',
  compare: '并排对比',
  compareOff: '单个查看',
  playBoth: '同时播放',
  alignmentTitle: '歌曲是如何对齐的',
  alignmentLegendRec: '你的录音',
  alignmentLegendMusic: '对齐后的干净歌曲',
  alignmentNoLocal: '录音的波形图只能在上传文件的设备上显示。',
  alignmentLoading: '正在绘制…',
  details: '录像从音乐的 {offset} 处开始 · 速度 {speed} · {windows}',
  windowsAgree: '{total} 次检查中 {used} 次一致',
  nudgeTitle: '微调',
  nudgeHelp: '如果觉得音乐早了或晚了，可以移动一点再听。正数 = 音乐推后。',
  nudgeLabel: '偏移（毫秒）',
  nudgeMinus: '音乐提前 {n} 毫秒',
  nudgePlus: '音乐推后 {n} 毫秒',
  previewPlay: '按此偏移试听',
  previewStop: '停止试听',
  previewNeedsAudio: '正在加载试听用的音乐…',
  renderNudge: '按此偏移重新生成',
  downloadsTitle: '下载',
  download: '下载{variant}',
  share: '分享…',
  sharing: '正在准备…',
  expires: '保存到 {date}',
  historyTitle: '我的视频',
  historyEmpty: '还没有视频。从“新视频”开始吧。',
  loadMore: '加载更多',
  open: '打开',
  delete: '删除',
  deleteConfirm: '从服务器删除这个视频及其文件？此操作无法撤销。',
  deleteFailed: '无法删除：{message}',
  status_queued: '等待中',
  status_running: '处理中',
  status_retrying: '重试中',
  status_succeeded: '已完成',
  status_failed: '失败',
  status_cancelled: '已取消',
  duration: '{t}',
  created: '{date}',
  offlineBanner: '当前没有网络。恢复连接后会自动继续。',
  notFoundJob: '找不到这个视频（可能已过期，或属于另一台设备）。',
  genericError: '出错了：{message}',
  errNext_INVALID_FORMAT: '请选择视频或音频文件（例如 MP4、MOV、MP3、M4A）。',
  errNext_NO_AUDIO_TRACK: '这个文件没有声音，请选择有声音的文件。',
  errNext_NO_VIDEO_TRACK: '请选择课堂上录的视频（这个文件没有画面）。',
  errNext_DURATION_LIMIT: '请把文件剪短后再试。',
  errNext_FILE_TOO_LARGE: '请选择更小的文件，或以较低画质导出。',
  errNext_RESOURCE_LIMIT: '请几分钟后再试。',
  errNext_RATE_LIMITED: '请稍等片刻再试。',
  errNext_FILE_NOT_FOUND: '上传的文件已过期，请重新选择。',
  errNext_PROCESSING_FAILED: '请重试；如果一直失败，换一份文件试试。',
  errNext_TIMEOUT: '请用更短的视频再试。',
};

const LANG_KEY = 'beatsync.lang';
let current: Lang = initialLang();
const listeners = new Set<() => void>();

function initialLang(): Lang {
  const saved = globalThis.localStorage?.getItem(LANG_KEY);
  if (saved === 'en' || saved === 'zh-CN') return saved;
  const langs = globalThis.navigator?.languages ?? [];
  for (const tag of langs) {
    if (tag.toLowerCase().startsWith('zh')) return 'zh-CN';
    if (tag.toLowerCase().startsWith('en')) return 'en';
  }
  return 'en';
}

export function lang(): Lang {
  return current;
}

export function setLang(next: Lang): void {
  current = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
  for (const fn of listeners) fn();
}

export function onLangChange(fn: () => void): void {
  listeners.add(fn);
}

export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const text: string = current === 'zh-CN' ? zh[key] : en[key];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? ''));
}

/** What to do next after an error code, or null when the message says it all. */
export function nextStep(code: string): string | null {
  const key = `errNext_${code}`;
  return key in en ? t(key as Key) : null;
}

export function formatDate(iso: string | number | null): string {
  if (iso === null) return '';
  const d = new Date(iso);
  return d.toLocaleString(current, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
