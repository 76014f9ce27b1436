// The "new video" page: two file cards (choose or drop; each uploads at once with bytes, speed, resume,
// retry and the server's verdict in plain words) and one Sync button.
import { ApiError, submitJob } from './api.ts';
import { h, setText, show } from './dom.ts';
import { lang, nextStep, refusalWords, t } from './i18n.ts';
import type { Key } from './i18n.ts';
import { rememberJob } from './store.ts';
import type { Slot } from './tus.ts';
import { chooseFile, clearSlot, onSlotsChange, readyFile, resetSlots, slot, verifyRestored } from './uploads-model.ts';
import { formatBytes, formatClock } from './words.ts';

const ACCEPT: Record<Slot, string> = {
  dance: 'video/*,.mp4,.mov,.m4v,.mkv,.webm,.avi,.3gp',
  bgm: 'audio/*,video/*,.mp3,.m4a,.aac,.wav,.flac,.ogg,.opus,.mp4,.mov',
};

interface Card {
  root: HTMLElement;
  update(): void;
}

function fileCard(s: Slot): Card {
  const id = `file-${s}`;
  const input = h('input', { type: 'file', id, class: 'visually-hidden', accept: ACCEPT[s], 'aria-describedby': `${id}-status` });
  const chooseLabel = h('label', { for: id, class: 'button secondary', tabindex: '-1' }, t('choose'));
  const name = h('div', { class: 'file-name' });
  const sizes = h('span', { class: 'num' });
  const speed = h('span', { class: 'num' });
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-label': t(s === 'dance' ? 'danceTitle' : 'bgmTitle') }, fill);
  const status = h('p', { class: 'status', id: `${id}-status`, 'aria-live': 'polite' });
  const retry = h('button', { type: 'button', class: 'link', onclick: () => slot(s).upload?.retryNow() }, t('retry'));
  const remove = h('button', { type: 'button', class: 'link', onclick: () => clearSlot(s) }, t('remove'));
  const zone = h('div', { class: 'drop' }, chooseLabel, h('span', { class: 'muted drop-hint' }, t('dropHere')));
  const root = h('section', { class: `card file-card slot-${s}`, 'aria-labelledby': `${id}-title`, 'data-slot': s },
    h('h2', { id: `${id}-title` }, t(s === 'dance' ? 'danceTitle' : 'bgmTitle')),
    h('p', { class: 'muted' }, t(s === 'dance' ? 'danceHint' : 'bgmHint')),
    input,
    zone,
    h('div', { class: 'file-info' }, name, h('div', { class: 'file-meta' }, sizes, speed)),
    bar,
    status,
    h('div', { class: 'card-actions' }, retry, remove),
  );
  // The label is the visible control; keyboard users reach the input itself (Enter/Space opens the picker).
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) chooseFile(s, file);
    input.value = '';
  });
  for (const type of ['dragenter', 'dragover']) {
    root.addEventListener(type, (e) => {
      e.preventDefault();
      root.classList.add('dragging');
    });
  }
  root.addEventListener('dragleave', () => root.classList.remove('dragging'));
  root.addEventListener('drop', (e) => {
    e.preventDefault();
    root.classList.remove('dragging');
    const file = (e as DragEvent).dataTransfer?.files[0];
    if (file) chooseFile(s, file);
  });

  function setBar(percent: number, tone: '' | 'ok' | 'bad'): void {
    fill.style.transform = `scaleX(${Math.max(0, Math.min(1, percent / 100))})`;
    bar.setAttribute('aria-valuenow', String(Math.round(percent)));
    bar.dataset.tone = tone;
  }

  function update(): void {
    const model = slot(s);
    const st = model.state;
    let statusText = '';
    let statusTone = '';
    root.dataset.phase = st?.phase ?? (model.restored ? (model.restored.fileId ? 'restored' : 'needs-file') : 'empty');
    show(retry, st?.phase === 'retrying');
    show(remove, Boolean(st || model.restored));
    setText(chooseLabel, st || model.restored ? t('chooseOther') : t('choose'));
    if (st) {
      setText(name, st.name);
      const pct = st.size > 0 ? (st.sent / st.size) * 100 : 0;
      setText(sizes, t('sizeLine', { done: formatBytes(st.sent, lang()), total: formatBytes(st.size, lang()) }));
      setText(speed, st.phase === 'uploading' && st.speed > 0 ? t('speedLine', { speed: formatBytes(st.speed, lang()) }) : '');
      switch (st.phase) {
        case 'uploading':
          setBar(pct, '');
          statusText = st.resumedFrom > 0 ? t('resumed', { done: formatBytes(st.resumedFrom, lang()) }) : t('uploading');
          break;
        case 'checking':
          setBar(100, '');
          statusText = t('checking');
          break;
        case 'retrying':
          setBar(pct, '');
          statusText = t('retryIn', { s: st.retryInSeconds });
          statusTone = 'warn';
          break;
        case 'offline':
          setBar(pct, '');
          statusText = t('offlineWait');
          statusTone = 'warn';
          break;
        case 'done': {
          setBar(100, 'ok');
          const info = st.info;
          statusText = info ? factsLine(s, info.kind, info.durationSeconds) : t('uploaded');
          statusTone = 'ok';
          break;
        }
        case 'error':
          setBar(pct, 'bad');
          statusText = [st.error?.message, st.error ? nextStep(st.error.code) : null].filter(Boolean).join(' ');
          statusTone = 'bad';
          break;
      }
    } else if (model.restored) {
      const r = model.restored;
      setText(name, r.name);
      setText(speed, '');
      if (r.fileId) {
        setText(sizes, model.restoredInfo ? formatBytes(model.restoredInfo.size, lang()) : '');
        setBar(100, 'ok');
        statusText = model.restoredInfo ? factsLine(s, model.restoredInfo.kind, model.restoredInfo.durationSeconds) : t('checking');
        statusTone = model.restoredInfo ? 'ok' : '';
      } else {
        const pct = r.size > 0 ? (r.offset / r.size) * 100 : 0;
        setText(sizes, t('sizeLine', { done: formatBytes(r.offset, lang()), total: formatBytes(r.size, lang()) }));
        setBar(pct, '');
        statusText = t('resumeNeeded', { name: r.name, percent: Math.floor(pct) });
        statusTone = 'warn';
      }
    } else {
      setText(name, '');
      setText(sizes, '');
      setText(speed, '');
      setBar(0, '');
    }
    setText(status, statusText);
    status.dataset.tone = statusTone;
    status.setAttribute('role', statusTone === 'bad' ? 'alert' : 'status');
  }
  update();
  return { root, update };
}

function factsLine(s: Slot, kind: 'video' | 'audio', duration: number): string {
  const d = formatClock(duration);
  if (kind === 'audio') return `✓ ${t('audioFacts', { duration: d })}`;
  return `✓ ${t(s === 'bgm' ? 'videoAsMusic' : 'videoFacts', { duration: d })}`;
}

export function renderNew(main: HTMLElement, navigate: (hash: string) => void): () => void {
  const cards = { dance: fileCard('dance'), bgm: fileCard('bgm') };
  const syncButton = h('button', { type: 'button', class: 'primary big', id: 'sync' }, t('sync'));
  const hint = h('p', { class: 'muted sync-hint', 'aria-live': 'polite' });
  const error = h('p', { class: 'status', role: 'alert', 'data-tone': 'bad' });
  let submitting = false;

  function update(): void {
    cards.dance.update();
    cards.bgm.update();
    const dance = readyFile('dance');
    const bgm = readyFile('bgm');
    const any = Boolean(slot('dance').state || slot('bgm').state || slot('dance').restored || slot('bgm').restored);
    syncButton.disabled = !dance || !bgm || submitting;
    setText(syncButton, submitting ? t('submitting') : t('sync'));
    const key: Key = dance && bgm ? 'syncHintReady' : any ? 'syncHintUploading' : 'syncHintWaiting';
    setText(hint, t(key));
  }

  syncButton.addEventListener('click', async () => {
    const dance = readyFile('dance');
    const bgm = readyFile('bgm');
    if (!dance || !bgm || submitting) return;
    submitting = true;
    setText(error, '');
    update();
    try {
      const job = await submitJob(dance.fileId, bgm.fileId);
      rememberJob({ id: job.jobId, createdAt: Date.now(), danceName: dance.name, bgmName: bgm.name, danceFileId: dance.fileId, bgmFileId: bgm.fileId });
      resetSlots();
      navigate(`#/job/${encodeURIComponent(job.jobId)}`);
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 'PROCESSING_FAILED';
      setText(error, refusalWords(code, (err as Error).message));
    } finally {
      submitting = false;
      update();
    }
  });

  main.append(
    // The page's one h1 says what it does.
    h('h1', { class: 'tagline', id: 'new-title', tabindex: '-1' }, t('tagline')),
    h('div', { class: 'cards' }, cards.dance.root, cards.bgm.root),
    h('div', { class: 'sync-row' }, syncButton, hint, error),
  );
  void verifyRestored('dance');
  void verifyRestored('bgm');
  update();
  return onSlotsChange(update);
}
