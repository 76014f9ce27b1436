// The job page: live progress (SSE, falling back to polling) with stages, percent, elapsed time and an
// estimate in fixed-size text; cancel; clear failures with the next step; and, once done, the result.
import { ApiError, cancelJob, getJob, retryJob, setNetState, TERMINAL, withToken } from './api.ts';
import type { JobStatus, JobView, Progress } from './api.ts';
import { h, setText, show } from './dom.ts';
import { nextStep, refusalWords, t } from './i18n.ts';
import type { Key } from './i18n.ts';
import { savedJob } from './store.ts';
import { prefillSlot } from './uploads-model.ts';
import { renderResult } from './view-result.ts';
import { holdWakeLock } from './wakelock.ts';
import { formatClock } from './words.ts';

type StageId = 'upload' | 'analyse' | 'render' | 'finish';
const STAGES: { id: StageId; key: Key }[] = [
  { id: 'upload', key: 'stageUpload' },
  { id: 'analyse', key: 'stageAnalyse' },
  { id: 'render', key: 'stageRender' },
  { id: 'finish', key: 'stageFinish' },
];

/** The page's stage for the pipeline's (probe/decode/analyze/render/finish). */
export function stageOf(status: JobStatus, progress: Progress): StageId {
  if (status === 'succeeded') return 'finish';
  if (status === 'queued') return 'analyse';
  switch (progress.stage) {
    case 'render': return 'render';
    case 'finish': return 'finish';
    default: return 'analyse';
  }
}

export function renderJob(main: HTMLElement, jobId: string, navigate: (hash: string) => void): () => void {
  const saved = savedJob(jobId);
  const title = h('h1', { id: 'job-title', tabindex: '-1' }, t('jobTitle'));
  const names = h('p', { class: 'muted names' }, saved ? `${saved.danceName} + ${saved.bgmName}` : '');

  const stageItems = STAGES.map((s) => h('li', { 'data-stage': s.id }, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', null, t(s.key))));
  const percent = h('div', { class: 'percent num', 'aria-hidden': 'true' }, '0%');
  const fill = h('div', { class: 'fill' });
  const bar = h('div', { class: 'bar thick', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0', 'aria-labelledby': 'job-title' }, fill);
  const times = h('p', { class: 'times num' });
  const message = h('p', { class: 'message', 'aria-live': 'polite' });
  const conn = h('span', { class: 'pill', 'data-conn': 'live' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel' }, t('cancel'));
  // Offered here, after Sync, never on arrival: a permission prompt out of nowhere gets refused.
  const notify = h('button', { type: 'button', class: 'secondary', id: 'notify', hidden: true }, t('notifyOffer'));
  const notifyNote = h('p', { class: 'muted small notify-note', 'aria-live': 'polite' });
  /** The user closed the prompt without choosing: say so, or the button looks broken. */
  let dismissed = false;
  function updateNotify(): void {
    const supported = 'Notification' in globalThis;
    const permission = supported ? Notification.permission : 'denied';
    notify.hidden = !supported || permission !== 'default';
    const note = !supported ? '' : permission === 'granted' ? t('notifyOn') : permission === 'denied' ? t('notifyBlocked') : dismissed ? t('notifyDismissed') : '';
    setText(notifyNote, note);
  }
  notify.addEventListener('click', async () => {
    // Old Safari answers through a callback and returns nothing.
    const answer = await Promise.resolve(Notification.requestPermission()).catch(() => 'denied');
    dismissed = answer === 'default';
    updateNotify();
  });
  const progressPanel = h('section', { class: 'card progress-panel', 'aria-label': t('jobTitle') },
    h('ol', { class: 'stages' }, ...stageItems),
    h('div', { class: 'percent-row' }, percent, conn),
    bar,
    times,
    message,
    h('div', { class: 'row' }, cancel, notify),
    notifyNote,
    h('p', { class: 'muted small' }, t('leaveSafe')),
  );

  const errorTitle = h('h2', null);
  const errorText = h('p', { class: 'muted' });
  const errorActions = h('div', { class: 'row' });
  const errorPanel = h('section', { class: 'card error-panel', role: 'alert', hidden: true }, errorTitle, errorText, errorActions);
  const resultHost = h('div', { class: 'result-host' });
  const root = h('div', { class: 'job' }, h('div', { class: 'job-head' }, title, names), progressPanel, errorPanel, resultHost);
  main.append(root);

  let job: JobView | null = null;
  let source: EventSource | null = null;
  let pollTimer: ReturnType<typeof setTimeout> | null = null;
  let tick: ReturnType<typeof setInterval> | null = null;
  let disposed = false;
  let resultCleanup: (() => void) | null = null;
  let shownPercent = 0;

  function setConn(state: 'live' | 'reconnecting' | 'polling'): void {
    conn.dataset.conn = state;
    setText(conn, t(state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting' : 'polling'));
  }

  function updateTimes(): void {
    if (!job) return;
    const start = Date.parse(job.startedAt ?? job.createdAt ?? '') || Date.now();
    const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
    const elapsed = Math.max(0, (end - start) / 1000);
    const p = job.progress.percent;
    let left: number | null = null;
    if (job.status === 'running' && p >= 5) left = (elapsed * (100 - p)) / p;
    else if (job.status === 'queued' && job.queueWaitSeconds != null && job.estimatedSeconds !== null) {
      // Waiting in line: the jobs ahead first, then this one's own run.
      left = Math.max(0, job.queueWaitSeconds - (Date.now() - waitSince) / 1000) + job.estimatedSeconds;
    } else if (job.estimatedSeconds !== null) left = Math.max(0, job.estimatedSeconds - elapsed);
    // Coarse steps above half a minute: the estimate should not twitch every second.
    // "Almost done" only near the end; early on a short estimate still reads as a few seconds.
    const leftText = left === null ? '' : p >= 95 || (left < 3 && p >= 60) ? t('almostDone') : t('remaining', { t: formatClock(left > 30 ? Math.ceil(left / 5) * 5 : Math.max(5, left)) });
    setText(times, [t('elapsed', { t: formatClock(elapsed) }), leftText].filter(Boolean).join(' · '));
  }

  /** Seen unfinished on this page: its end is news (a job opened already finished is not). */
  let watched = false;
  const onVisible = () => {
    if (document.visibilityState === 'visible' && /^[✓✗]/.test(document.title)) document.title = `BeatSync — ${t('jobTitle')}`;
  };
  document.addEventListener('visibilitychange', onVisible);

  /** The job ended while the user looked elsewhere: say so in the tab title and, if allowed, a notification. */
  function announceEnd(status: JobStatus): void {
    if (document.visibilityState !== 'hidden') return;
    const ok = status === 'succeeded';
    document.title = ok ? t('titleDone') : t('titleFailed');
    if ('Notification' in globalThis && Notification.permission === 'granted') {
      try {
        const note = new Notification(ok ? t('doneTitle') : t('failed'), { body: saved ? `${saved.danceName} + ${saved.bgmName}` : '', tag: `beatsync-${jobId}` });
        note.onclick = () => {
          focus();
          note.close();
        };
      } catch {
        // Some phones only notify from a service worker; the title still says it.
      }
    }
  }

  /** When the last queue wait estimate arrived: it counts down from there. */
  let waitSince = Date.now();

  function apply(next: Partial<JobView> & { status: JobStatus; progress: Progress }): void {
    const wasWatched = watched;
    if (next.queueWaitSeconds !== undefined) waitSince = Date.now();
    job = { ...(job as JobView), ...next };
    const status = job.status;
    if (!TERMINAL.includes(status)) watched = true;
    else if (wasWatched && status !== 'cancelled') {
      watched = false;
      announceEnd(status);
    }
    updateNotify();
    root.dataset.status = status;
    const terminal = TERMINAL.includes(status);
    holdWakeLock(`job-${jobId}`, !terminal);
    // Progress never goes backwards on screen (a retry restarts the server's count).
    shownPercent = status === 'retrying' ? shownPercent : Math.max(shownPercent, job.progress.percent);
    if (status === 'succeeded') shownPercent = 100;
    setText(percent, `${Math.floor(shownPercent)}%`);
    fill.style.transform = `scaleX(${shownPercent / 100})`;
    bar.setAttribute('aria-valuenow', String(Math.floor(shownPercent)));
    const current = stageOf(status, job.progress);
    const index = STAGES.findIndex((s) => s.id === current);
    stageItems.forEach((li, i) => {
      li.dataset.state = status === 'succeeded' || i < index ? 'done' : i === index ? 'active' : 'todo';
      if (i === index && !terminal) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    let msg = job.progress.message;
    if (status === 'queued') msg = job.queuePosition ? t('queued', { n: job.queuePosition }) : t('queuedNoPos');
    if (status === 'retrying') msg = t('retrying');
    setText(message, msg);
    updateTimes();
    show(progressPanel, status !== 'succeeded' && status !== 'failed' && status !== 'cancelled');
    show(errorPanel, status === 'failed' || status === 'cancelled');
    if (status === 'failed' || status === 'cancelled') showFailure(job);
    setText(title, status === 'succeeded' ? t('doneTitle') : status === 'failed' ? t('failed') : status === 'cancelled' ? t('cancelled') : t('jobTitle'));
    if (terminal) stopLive();
    if (status === 'succeeded' && job.result && !resultCleanup) {
      resultCleanup = renderResult(resultHost, job, navigate);
    }
  }

  function showFailure(j: JobView): void {
    errorActions.replaceChildren();
    const newVideo = h('button', { type: 'button', class: 'secondary', onclick: () => navigate('#/') }, t('startOver'));
    if (j.status === 'cancelled') {
      setText(errorTitle, t('cancelled'));
      setText(errorText, '');
      errorActions.append(h('button', { type: 'button', class: 'primary', onclick: () => void again() }, t('runAgain')), newVideo);
      return;
    }
    const code = j.error?.code ?? 'PROCESSING_FAILED';
    if (code === 'NO_MATCH') {
      setText(errorTitle, t('noMatchTitle'));
      setText(errorText, t('noMatchHelp'));
      const pick = h('button', { type: 'button', class: 'primary', id: 'pick-music', onclick: () => {
        prefillSlot('dance', j.input.danceFileId, saved?.danceName ?? 'video');
        navigate('#/');
        // Straight to the music picker.
        setTimeout(() => document.getElementById('file-bgm')?.focus(), 50);
      } }, t('pickOtherMusic'));
      errorActions.append(pick, newVideo);
      return;
    }
    setText(errorTitle, j.error?.message ?? t('failed'));
    setText(errorText, nextStep(code) ?? '');
    if (j.error?.retryable) errorActions.append(h('button', { type: 'button', class: 'primary', onclick: () => void again() }, t('tryAgain')));
    errorActions.append(newVideo);
  }

  async function again(): Promise<void> {
    try {
      const view = await retryJob(jobId);
      shownPercent = 0;
      apply(view);
      startLive();
    } catch (err) {
      setText(errorText, refusalWords(err instanceof ApiError ? err.code : 'PROCESSING_FAILED', (err as Error).message));
    }
  }

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    setText(cancel, t('cancelling'));
    try {
      apply(await cancelJob(jobId));
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'CONFLICT')) setText(message, (err as Error).message);
      void refresh();
    } finally {
      cancel.disabled = false;
      setText(cancel, t('cancel'));
    }
  });

  async function refresh(): Promise<void> {
    try {
      apply(await getJob(jobId));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        stopLive();
        show(progressPanel, false);
        show(errorPanel, true);
        setText(title, t('failed'));
        setText(errorTitle, t('notFoundJob'));
        errorActions.replaceChildren(h('button', { type: 'button', class: 'secondary', onclick: () => navigate('#/history') }, t('navHistory')));
      }
      throw err;
    }
  }

  /** Polls while the event stream is down; stops when it is back or the job has ended. */
  function poll(delay = 2000): void {
    if (pollTimer || disposed) return;
    pollTimer = setTimeout(async () => {
      pollTimer = null;
      if (disposed || (job && TERMINAL.includes(job.status))) return;
      let next = 2000;
      try {
        await refresh();
      } catch {
        next = Math.min(15_000, delay * 2);
      }
      if (source?.readyState !== EventSource.OPEN) poll(next);
    }, delay);
  }

  async function startLive(): Promise<void> {
    stopLive();
    if (disposed) return;
    tick = setInterval(updateTimes, 1000);
    const es = new EventSource(await withToken(`/api/jobs/${encodeURIComponent(jobId)}/events`));
    if (disposed) return es.close();
    source = es;
    const onEvent = (e: MessageEvent<string>) => {
      const data = JSON.parse(e.data) as { status: JobStatus; progress: Progress; error?: JobView['error'] };
      if (TERMINAL.includes(data.status)) {
        es.close();
        // The full view (result, expiry) comes from the job itself.
        void refresh().catch(() => apply({ status: data.status, progress: data.progress, error: data.error ?? null }));
      } else {
        apply({ status: data.status, progress: data.progress, ...(data.status !== 'queued' ? { queuePosition: null } : {}) });
      }
    };
    es.addEventListener('state', onEvent as EventListener);
    es.addEventListener('progress', onEvent as EventListener);
    es.onopen = () => {
      setConn('live');
      setNetState('online');
    };
    es.onerror = () => {
      if (disposed || (job && TERMINAL.includes(job.status))) return;
      // EventSource reconnects by itself (with Last-Event-ID); meanwhile poll so the numbers keep moving.
      setConn(es.readyState === EventSource.CLOSED ? 'polling' : 'reconnecting');
      if (es.readyState === EventSource.CLOSED) source = null;
      poll();
    };
  }

  function stopLive(): void {
    source?.close();
    source = null;
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
    if (tick) clearInterval(tick);
    tick = null;
  }

  setConn('live');
  void (async () => {
    try {
      await refresh();
    } catch {
      if (!job) poll();
      return;
    }
    const loaded = job as JobView | null;
    if (loaded && !TERMINAL.includes(loaded.status)) void startLive();
  })();

  return () => {
    document.removeEventListener('visibilitychange', onVisible);
    disposed = true;
    stopLive();
    holdWakeLock(`job-${jobId}`, false);
    resultCleanup?.();
  };
}
