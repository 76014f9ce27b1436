// "My videos": the server's history of this browser's jobs (with the names remembered locally): status, a
// thumbnail, duration, expiry; open, re-download until expiry, cancel a live job, delete a finished one (on the server).
import { cancelJob, deleteJob, listJobs, TERMINAL, withToken } from './api.ts';
import type { JobView } from './api.ts';
import { h, setText } from './dom.ts';
import { formatDate, lang, t } from './i18n.ts';
import type { Key } from './i18n.ts';
import { hiddenJobs, hideJob, savedJob } from './store.ts';
import { formatClock, formatExpiry } from './words.ts';

function row(job: JobView, onGone: () => void): HTMLElement {
  const saved = savedJob(job.jobId);
  const main = job.result?.variants[0] ?? null;
  const thumb = h('div', { class: 'thumb', 'aria-hidden': 'true' });
  if (main) {
    const v = h('video', { muted: true, preload: 'metadata', playsInline: true, tabindex: '-1' });
    v.setAttribute('playsinline', '');
    // #t= asks for a frame a little in (the very first one is often black).
    void withToken(main.url).then((src) => (v.src = `${src}#t=${Math.min(1, main.durationSeconds / 2)}`));
    thumb.append(v);
  } else {
    thumb.dataset.status = job.status;
  }
  const title = saved?.danceName ?? formatDate(job.createdAt);
  const badge = h('span', { class: 'badge', 'data-status': job.status }, t(`status_${job.status}` as Key));
  const facts = [
    formatDate(job.createdAt),
    main ? formatClock(main.durationSeconds) : null,
    job.status === 'running' ? `${Math.floor(job.progress.percent)}%` : null,
    formatExpiry(job.expiresAt, Date.now(), lang()),
  ].filter(Boolean).join(' · ');
  const actions = h('div', { class: 'row' }, h('a', { class: 'button secondary', href: `#/job/${encodeURIComponent(job.jobId)}` }, t('open')));
  if (main && job.status === 'succeeded') {
    const link = h('a', { class: 'button secondary', download: '' }, t('download', { variant: '' }).trim());
    void withToken(main.downloadUrl).then((href) => link.setAttribute('href', href));
    actions.append(link);
  }
  const item = h('li', { class: 'history-item', 'data-job': job.jobId });
  const note = h('p', { class: 'status small', role: 'alert', hidden: true });
  const finished = TERMINAL.includes(job.status);
  // A finished job is deleted on the server with its files; a live one can only be cancelled (then deleted).
  const button: HTMLButtonElement = h('button', { type: 'button', class: finished ? 'link delete' : 'link cancel', onclick: async () => {
    if (finished && !confirm(t('deleteConfirm'))) return;
    button.disabled = true;
    try {
      if (finished) {
        await deleteJob(job.jobId);
        hideJob(job.jobId);
        item.remove();
        onGone();
      } else {
        item.replaceWith(row(await cancelJob(job.jobId), onGone));
      }
    } catch (err) {
      note.hidden = false;
      setText(note, finished ? t('deleteFailed', { message: (err as Error).message }) : (err as Error).message);
      button.disabled = false;
    }
  } }, finished ? t('delete') : t('cancel'));
  actions.append(button);
  item.append(thumb, h('div', { class: 'history-body' },
    h('div', { class: 'history-title' }, h('strong', null, title), badge),
    h('p', { class: 'muted small num' }, facts),
    actions,
    note,
  ));
  return item;
}

export function renderHistory(main: HTMLElement): () => void {
  const list = h('ul', { class: 'history', 'aria-live': 'polite' });
  const empty = h('p', { class: 'muted', hidden: true }, t('historyEmpty'));
  const status = h('p', { class: 'status', role: 'status' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('loadMore'));
  let cursor: string | null = null;
  let disposed = false;

  async function load(): Promise<void> {
    more.disabled = true;
    try {
      const page = await listJobs(cursor);
      if (disposed) return;
      const hidden = hiddenJobs();
      for (const job of page.jobs) if (!hidden.has(job.jobId)) list.append(row(job, () => (empty.hidden = list.children.length > 0)));
      cursor = page.nextCursor;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
      setText(status, '');
    } catch (err) {
      setText(status, (err as Error).message);
      more.hidden = false;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', () => void load());
  main.append(h('h1', { tabindex: '-1' }, t('historyTitle')), list, empty, status, more);
  void load();
  return () => {
    disposed = true;
  };
}
