// A finished job: the variants in a player (Range streaming), side-by-side compare on wide screens, the
// alignment picture in plain words, the nudge control with an in-browser preview, and downloads/sharing.
import { ApiError, submitJob, withToken } from './api.ts';
import type { Alignment, JobView, VariantName, VariantView } from './api.ts';
import { drawAlignment, MAX_DECODE_BYTES, NudgePreview, POINTS } from './alignment.ts';
import { pictureCurves, serverEnvelopes } from './envelope.ts';
import type { FileEnvelope, PictureCurves } from './envelope.ts';
import { h, setText } from './dom.ts';
import { formatDate, lang, nextStep, t } from './i18n.ts';
import type { Key } from './i18n.ts';
import { rememberJob, savedJob } from './store.ts';
import { envelopeFor, localFileFor } from './uploads-model.ts';
import { alignmentSentence, formatBytes, formatClock, formatOffset } from './words.ts';

const variantLabel = (v: VariantName): string => t(`variant_${v}` as Key);

export function renderResult(host: HTMLElement, job: JobView, navigate: (hash: string) => void): () => void {
  const result = job.result!;
  const variants = result.variants;
  const report = result.report;
  const alignment: Alignment | null = report.alignment ?? null;
  const jobNudge = report.nudgeMs ?? job.input.options.nudgeMs ?? 0;
  const saved = savedJob(job.jobId);
  const cleanups: (() => void)[] = [];
  let current: VariantName = variants[0]?.variant ?? 'trimmed';

  // ---- player and variant switch ----
  const video = h('video', { controls: true, playsInline: true, preload: 'metadata', class: 'player', id: 'player' });
  video.setAttribute('playsinline', '');
  const hint = h('p', { class: 'muted small variant-hint' });
  const tabs = variants.map((v) => h('button', {
    type: 'button', role: 'tab', class: 'tab', 'data-variant': v.variant, id: `tab-${v.variant}`, 'aria-controls': 'player',
    onclick: () => select(v.variant),
  }, variantLabel(v.variant), h('span', { class: 'tab-meta num' }, formatClock(v.durationSeconds))));
  const tablist = h('div', { role: 'tablist', class: 'tabs', 'aria-label': t('doneTitle') }, ...tabs);
  tablist.addEventListener('keydown', (e) => {
    const i = variants.findIndex((v) => v.variant === current);
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    const next = variants[(i + step + variants.length) % variants.length];
    select(next.variant);
    document.getElementById(`tab-${next.variant}`)?.focus();
  });

  async function select(v: VariantName): Promise<void> {
    current = v;
    for (const tab of tabs) {
      const on = tab.dataset.variant === v;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
    }
    setText(hint, t(`variantHint_${v}` as Key));
    const view = variants.find((x) => x.variant === v)!;
    const time = video.currentTime;
    video.src = await withToken(view.url);
    if (time > 0) video.currentTime = Math.min(time, view.durationSeconds);
    preview.stop();
    updatePreviewButton();
    void setupPreviewMapping();
  }

  // ---- compare (wide screens) ----
  const compareA = h('video', { controls: true, playsInline: true, preload: 'metadata', class: 'player' });
  const compareB = h('video', { controls: true, playsInline: true, preload: 'metadata', class: 'player' });
  const selectFor = (el: HTMLVideoElement, initial: VariantName) => {
    const sel = h('select', { 'aria-label': t('compare') }, ...variants.map((v) => h('option', { value: v.variant, selected: v.variant === initial }, variantLabel(v.variant))));
    const load = async () => {
      el.src = await withToken(variants.find((v) => v.variant === sel.value)!.url);
    };
    sel.addEventListener('change', () => void load());
    void load();
    return sel;
  };
  const second = variants.find((v) => v.variant === 'full') ?? variants[1] ?? variants[0];
  let compareBuilt = false;
  const compareGrid = h('div', { class: 'compare', hidden: true });
  const playBoth = h('button', { type: 'button', class: 'secondary', onclick: () => {
    compareB.currentTime = compareA.currentTime;
    void compareA.play();
    void compareB.play();
  } }, t('playBoth'));
  const compareToggle = h('button', { type: 'button', class: 'secondary compare-toggle', 'aria-pressed': 'false' }, t('compare'));
  compareToggle.addEventListener('click', () => {
    const on = compareGrid.hidden;
    if (on && !compareBuilt) {
      compareBuilt = true;
      compareGrid.append(
        h('div', null, selectFor(compareA, variants[0].variant), compareA),
        h('div', null, selectFor(compareB, second.variant), compareB),
        h('div', { class: 'row span' }, playBoth),
      );
    }
    compareGrid.hidden = !on;
    singleView.hidden = on;
    compareToggle.setAttribute('aria-pressed', String(on));
    setText(compareToggle, on ? t('compareOff') : t('compare'));
    if (on) {
      video.pause();
      preview.stop();
      updatePreviewButton();
    } else {
      compareA.pause();
      compareB.pause();
    }
  });
  const singleView = h('div', { class: 'single' }, h('div', { class: 'player-box' }, video), hint);

  // ---- alignment picture ----
  const canvas = h('canvas', { class: 'alignment', role: 'img', 'aria-label': t('alignmentTitle') });
  const sentence = h('p', { class: 'sentence' }, alignment ? alignmentSentence(alignment, lang()) : '');
  const details = h('p', { class: 'muted small num' }, alignment ? t('details', {
    offset: formatOffset(alignment.offsetSeconds),
    speed: alignment.speed.toFixed(6),
    windows: alignment.windowsTotal ? t('windowsAgree', { used: alignment.windowsUsed ?? 0, total: alignment.windowsTotal }) : '',
  }) : '');
  const pictureNote = h('p', { class: 'muted small picture-note' });
  const legend = h('p', { class: 'legend small' },
    h('span', null, h('span', { class: 'swatch rec', 'aria-hidden': 'true' }), t('alignmentLegendRec')),
    h('span', null, h('span', { class: 'swatch music', 'aria-hidden': 'true' }), t('alignmentLegendMusic')));
  let curves: PictureCurves | null = null;
  let fileEnvelopes: { recording: FileEnvelope; music: FileEnvelope } | null = null;
  const redraw = () => drawAlignment(canvas, curves, alignment);
  const recompute = () => {
    if (fileEnvelopes && alignment) curves = pictureCurves(fileEnvelopes.recording, fileEnvelopes.music, alignment, nudge, POINTS);
    redraw();
  };

  async function buildPicture(): Promise<void> {
    if (!alignment) return;
    setText(pictureNote, t('alignmentLoading'));
    // The browser's own curves (finer) when this device uploaded the files, else the server's.
    const [recording, music] = await Promise.all([envelopeFor(job.input.danceFileId), envelopeFor(job.input.bgmFileId)]);
    const fromServer = report.envelopes ? serverEnvelopes(report.envelopes) : null;
    fileEnvelopes = recording && music ? { recording, music } : fromServer;
    // Only jobs finished before the server measured curves can lack both.
    setText(pictureNote, fileEnvelopes ? '' : t('alignmentNoLocal'));
    recompute();
  }

  // ---- nudge and preview ----
  let nudge = jobNudge;
  const range = h('input', { type: 'range', min: '-200', max: '200', step: '1', value: String(nudge), id: 'nudge-range', 'aria-describedby': 'nudge-help' });
  const number = h('input', { type: 'number', min: '-200', max: '200', step: '1', value: String(nudge), id: 'nudge', class: 'num', inputmode: 'numeric' });
  const stepButton = (n: number) => h('button', { type: 'button', class: 'secondary step num', 'aria-label': n < 0 ? t('nudgeMinus', { n: -n }) : t('nudgePlus', { n }), onclick: () => setNudge(nudge + n) }, n > 0 ? `+${n}` : `${n}`);
  const previewButton = h('button', { type: 'button', class: 'secondary', id: 'preview' }, t('previewPlay'));
  const renderButton = h('button', { type: 'button', class: 'primary', id: 'render-nudge' }, t('renderNudge'));
  const nudgeStatus = h('p', { class: 'status small', 'aria-live': 'polite' });
  const preview = new NudgePreview(video);
  cleanups.push(() => preview.dispose());

  function setNudge(value: number): void {
    nudge = Math.max(-200, Math.min(200, Math.round(Number.isFinite(value) ? value : 0)));
    range.value = String(nudge);
    if (document.activeElement !== number) number.value = String(nudge);
    renderButton.disabled = nudge === jobNudge;
    recompute();
    void setupPreviewMapping();
  }
  range.addEventListener('input', () => setNudge(Number(range.value)));
  number.addEventListener('input', () => {
    if (number.value !== '' && number.value !== '-') setNudge(Number(number.value));
  });
  number.addEventListener('blur', () => {
    number.value = String(nudge);
  });

  /** Which sound the preview plays: the local song file (exact), else the output's own sound shifted. */
  let previewSource: 'bgm' | 'output' | null = null;
  async function loadPreviewSound(): Promise<void> {
    if (preview.loaded) return;
    const bgmFile = localFileFor(job.input.bgmFileId);
    const view = variants.find((v) => v.variant === current)!;
    if (bgmFile && bgmFile.size <= MAX_DECODE_BYTES) {
      await preview.load(await bgmFile.arrayBuffer());
      previewSource = 'bgm';
    } else {
      const res = await fetch(await withToken(view.url));
      await preview.load(await res.arrayBuffer());
      previewSource = 'output';
    }
  }

  async function setupPreviewMapping(): Promise<void> {
    if (!preview.loaded || !alignment) return;
    const info = report.variants?.find((v) => v.variant === current);
    const danceStart = info?.danceStart ?? 0;
    if (previewSource === 'bgm') {
      // BGM time = offset + speed × (dance time − nudge) — the same mapping the renderer uses.
      preview.setMapping((tv) => alignment.offsetSeconds + alignment.speed * (danceStart + tv - nudge / 1000), alignment.speed);
    } else {
      const delta = (nudge - jobNudge) / 1000;
      preview.setMapping((tv) => tv - delta, 1);
    }
  }

  function updatePreviewButton(): void {
    setText(previewButton, preview.playing ? t('previewStop') : t('previewPlay'));
    previewButton.setAttribute('aria-pressed', String(preview.playing));
  }

  previewButton.addEventListener('click', async () => {
    if (preview.playing) {
      preview.stop();
      video.pause();
      updatePreviewButton();
      return;
    }
    previewButton.disabled = true;
    setText(nudgeStatus, t('previewNeedsAudio'));
    try {
      await loadPreviewSound();
      await setupPreviewMapping();
      await preview.start();
      setText(nudgeStatus, '');
    } catch (err) {
      setText(nudgeStatus, (err as Error).message);
    } finally {
      previewButton.disabled = false;
      updatePreviewButton();
    }
  });

  renderButton.disabled = true;
  renderButton.addEventListener('click', async () => {
    renderButton.disabled = true;
    try {
      const next = await submitJob(job.input.danceFileId, job.input.bgmFileId, { nudgeMs: nudge });
      rememberJob({
        id: next.jobId, createdAt: Date.now(), danceName: saved?.danceName ?? 'video', bgmName: saved?.bgmName ?? 'music',
        danceFileId: job.input.danceFileId, bgmFileId: job.input.bgmFileId,
      });
      navigate(`#/job/${encodeURIComponent(next.jobId)}`);
    } catch (err) {
      const code = err instanceof ApiError ? err.code : 'PROCESSING_FAILED';
      setText(nudgeStatus, [(err as Error).message, nextStep(code)].filter(Boolean).join(' '));
      renderButton.disabled = false;
    }
  });

  // ---- downloads ----
  const fileName = (v: VariantView) => `${(saved?.danceName ?? 'video').replace(/\.[^.]+$/, '')}-beatsync-${v.variant}.mp4`;
  const downloadRows = variants.map((v) => {
    const link = h('a', { class: 'button primary download', download: fileName(v), 'data-variant': v.variant }, t('download', { variant: variantLabel(v.variant) }));
    void withToken(v.downloadUrl).then((href) => link.setAttribute('href', href));
    const row = h('div', { class: 'download-row' }, link, h('span', { class: 'muted small num' }, `${formatBytes(v.sizeBytes, lang())} · ${formatClock(v.durationSeconds)}`));
    if (canShareFiles()) row.append(shareButton(v, fileName(v)));
    return row;
  });
  const expiry = h('p', { class: 'muted small' }, job.expiresAt ? t('expires', { date: formatDate(job.expiresAt) }) : '');

  host.append(
    h('section', { class: 'card result' },
      h('div', { class: 'result-top' }, tablist, compareToggle),
      singleView,
      compareGrid,
    ),
    h('div', { class: 'result-grid' },
      h('section', { class: 'card', 'aria-labelledby': 'align-title' },
        h('h2', { id: 'align-title' }, t('alignmentTitle')),
        sentence,
        h('div', { class: 'canvas-box' }, canvas),
        legend,
        pictureNote,
        details,
      ),
      h('section', { class: 'card nudge', 'aria-labelledby': 'nudge-title' },
        h('h2', { id: 'nudge-title' }, t('nudgeTitle')),
        h('p', { class: 'muted small', id: 'nudge-help' }, t('nudgeHelp')),
        h('label', { for: 'nudge' }, t('nudgeLabel')),
        h('div', { class: 'nudge-row' }, stepButton(-10), stepButton(-1), number, stepButton(1), stepButton(10)),
        range,
        h('div', { class: 'row' }, previewButton, renderButton),
        nudgeStatus,
      ),
      h('section', { class: 'card downloads', 'aria-labelledby': 'dl-title' },
        h('h2', { id: 'dl-title' }, t('downloadsTitle')),
        ...downloadRows,
        expiry,
      ),
    ),
  );
  void select(current);
  redraw();
  void buildPicture();
  const onResize = () => redraw();
  addEventListener('resize', onResize);
  cleanups.push(() => removeEventListener('resize', onResize));
  return () => {
    for (const fn of cleanups) fn();
    video.removeAttribute('src');
    video.load();
  };
}

function canShareFiles(): boolean {
  try {
    return typeof navigator.canShare === 'function' && navigator.canShare({ files: [new File([''], 'x.mp4', { type: 'video/mp4' })] });
  } catch {
    return false;
  }
}

/** Shares the file itself (phones: save to Photos, send to a chat). A big file takes a moment to fetch first. */
function shareButton(v: VariantView, name: string): HTMLButtonElement {
  let file: File | null = null;
  const button = h('button', { type: 'button', class: 'secondary' }, t('share'));
  button.addEventListener('click', async () => {
    try {
      if (!file) {
        setText(button, t('sharing'));
        const blob = await (await fetch(await withToken(v.url))).blob();
        file = new File([blob], name, { type: 'video/mp4' });
      }
      await navigator.share({ files: [file], title: name });
    } catch {
      // Fetching took the user's tap away (NotAllowedError): the next tap shares at once.
    } finally {
      setText(button, t('share'));
    }
  });
  return button;
}
