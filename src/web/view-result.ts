// A finished job: doubt said first when the engine is not sure (both places side by side, one tap picks),
// the variants in a player (Range streaming), side-by-side compare on wide screens, the alignment picture in
// plain words with its run-throughs, the nudge control with an in-browser preview, "the sync is off",
// and downloads/sharing (one clip per run-through, the phone-size file next to the lossless one).
import { ApiError, sendSyncFeedback, sizeOf, submitJob, withToken } from './api.ts';
import type { Alignment, JobView, VariantName, VariantView } from './api.ts';
import { drawAlignment, MAX_DECODE_BYTES, NudgePreview, POINTS } from './alignment.ts';
import { pictureCurves, serverEnvelopes } from './envelope.ts';
import type { FileEnvelope, PictureCurves } from './envelope.ts';
import { h, setText } from './dom.ts';
import { formatDate, lang, nextStep, t } from './i18n.ts';
import type { Key } from './i18n.ts';
import { rememberJob, savedJob } from './store.ts';
import { envelopeFor, localFileFor } from './uploads-model.ts';
import { agreementWords, alignmentSentence, formatBytes, formatClock, isDoubtful, placeWords, segmentWords } from './words.ts';

/** The run-through number of `trimmed` (1) and `trimmed-n`, else null. */
export function clipNumber(v: VariantView): number | null {
  if (v.variant === 'trimmed') return v.clip ?? 1;
  const m = /^trimmed-(\d+)$/.exec(v.variant);
  return m ? v.clip ?? Number(m[1]) : null;
}

/** The run-through whose phone-size copy this is (`compact` = 1, `compact-n` = n), else null. */
export function compactNumber(v: VariantView): number | null {
  if (v.variant === 'compact') return v.clip ?? 1;
  const m = /^compact-(\d+)$/.exec(v.variant);
  return m ? v.clip ?? Number(m[1]) : null;
}

const PICK_KEY = (jobId: string) => `beatsync.pick.${jobId}`;
const NUDGE_LIMIT = 5000;
const KNOWN = { variant_trimmed: 1, variant_full: 1, variant_alternate: 1, variantHint_trimmed: 1, variantHint_full: 1, variantHint_alternate: 1 } as const;

export function renderResult(host: HTMLElement, job: JobView, navigate: (hash: string) => void): () => void {
  const result = job.result!;
  const report = result.report;
  const alignment: Alignment | null = report.alignment ?? null;
  const jobNudge = report.nudgeMs ?? job.input.options.nudgeMs ?? 0;
  const saved = savedJob(job.jobId);
  const cleanups: (() => void)[] = [];
  // The phone-size files (one per run-through) are only downloads; everything else plays.
  const compacts = new Map(result.variants.filter((v) => compactNumber(v) !== null).map((v) => [compactNumber(v)!, v]));
  const variants = result.variants.filter((v) => compactNumber(v) === null);
  const clips = variants.filter((v) => clipNumber(v) !== null).sort((a, b) => clipNumber(a)! - clipNumber(b)!);
  const trimmed = variants.find((v) => v.variant === 'trimmed') ?? null;
  const alternate = variants.find((v) => v.variant === 'alternate') ?? null;
  const doubtful = isDoubtful(alignment);
  // Which of the two places is the main download and share (only a choice when both exist).
  const canPick = Boolean(trimmed && alternate);
  let chosen: 'trimmed' | 'alternate' = canPick && localStorage.getItem(PICK_KEY(job.jobId)) === 'alternate' ? 'alternate' : 'trimmed';
  let current: VariantName = canPick ? chosen : variants[0]?.variant ?? 'trimmed';

  const variantLabel = (v: VariantName): string => {
    const view = variants.find((x) => x.variant === v);
    const n = view ? clipNumber(view) : null;
    if (n !== null && clips.length > 1) return t('variant_clip', { n });
    const key = `variant_${v}`;
    return key in KNOWN ? t(key as Key) : v;
  };
  const hintFor = (v: VariantName): string => {
    const view = variants.find((x) => x.variant === v);
    const n = view ? clipNumber(view) : null;
    if (n !== null && clips.length > 1) return t('clipHint', { n, total: clips.length });
    const key = `variantHint_${v}`;
    return key in KNOWN ? t(key as Key) : '';
  };

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
    setText(hint, hintFor(v));
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
  // Plain words, not "−3.259 s · 22 of 39 checks": what a teacher can check by ear.
  const details = h('p', { class: 'muted small details' }, alignment
    ? [placeWords(alignment.offsetSeconds, lang()), agreementWords(alignment.windowsUsed, alignment.windowsTotal, lang())].filter(Boolean).join(lang() === 'zh-CN' ? '；' : '; ') + (lang() === 'zh-CN' ? '。' : '.')
    : '');
  const segments = alignment?.segments ?? [];
  const segmentList = segments.length > 1
    ? h('div', { class: 'segments' },
      h('p', { class: 'small' }, t('runThroughs', { n: segments.length })),
      h('ol', { class: 'small' }, ...segments.map((sg, i) => h('li', null, t('runThrough', { n: i + 1, words: segmentWords(sg, lang()) })))))
    : null;
  if (segments.length > 1) canvas.setAttribute('aria-label', `${t('alignmentTitle')}: ${t('runThroughs', { n: segments.length })}`);
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
  // Seconds are reachable: a wrong place is often seconds off, not milliseconds.
  const range = h('input', { type: 'range', min: String(-NUDGE_LIMIT), max: String(NUDGE_LIMIT), step: '1', value: String(nudge), id: 'nudge-range', 'aria-labelledby': 'nudge-label', 'aria-describedby': 'nudge-help' });
  const number = h('input', { type: 'number', min: String(-NUDGE_LIMIT), max: String(NUDGE_LIMIT), step: '1', value: String(nudge), id: 'nudge', class: 'num', inputmode: 'numeric' });
  // The visible text starts the button's name (screen readers and voice control say what is shown).
  const stepButton = (n: number) => h('button', { type: 'button', class: 'secondary step num', 'data-step': String(n), onclick: () => setNudge(nudge + n) },
    Math.abs(n) >= 1000 ? `${n > 0 ? '+' : '−'}${Math.abs(n) / 1000} s` : n > 0 ? `+${n}` : `−${-n}`,
    h('span', { class: 'visually-hidden' }, ` ${Math.abs(n) >= 1000 ? '' : 'ms '}${t(n < 0 ? 'stepEarlier' : 'stepLater')}`));
  const previewButton = h('button', { type: 'button', class: 'secondary', id: 'preview' }, t('previewPlay'));
  const renderButton = h('button', { type: 'button', class: 'primary', id: 'render-nudge' }, t('renderNudge'));
  const nudgeStatus = h('p', { class: 'status small', 'aria-live': 'polite' });
  const preview = new NudgePreview(video);
  cleanups.push(() => preview.dispose());

  function setNudge(value: number): void {
    nudge = Math.max(-NUDGE_LIMIT, Math.min(NUDGE_LIMIT, Math.round(Number.isFinite(value) ? value : 0)));
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

  // ---- "the sync is off" ----
  const syncOffStatus = h('p', { class: 'status small', 'aria-live': 'polite' });
  const syncOff = h('button', { type: 'button', class: 'secondary', id: 'sync-off' }, t('syncOff'));
  syncOff.addEventListener('click', async () => {
    syncOff.disabled = true;
    const shift = nudge !== jobNudge ? nudge : null;
    try {
      await sendSyncFeedback(job.jobId, { nudgeMs: shift, variant: current });
      setText(syncOffStatus, shift === null ? t('syncOffSentNoShift') : t('syncOffSent', { n: shift }));
    } catch (err) {
      setText(syncOffStatus, (err as Error).message);
    } finally {
      syncOff.disabled = false;
    }
  });

  // ---- downloads ----
  const fileName = (v: VariantView) => `${(saved?.danceName ?? 'video').replace(/\.[^.]+$/, '')}-beatsync-${v.variant}.mp4`;
  const sizeLine = (v: VariantView) => `${formatBytes(sizeOf(v), lang())} · ${formatClock(v.durationSeconds)}`;
  const downloadLink = (v: VariantView, label: string, primary: boolean) => {
    const link = h('a', { class: `button ${primary ? 'primary' : 'secondary'} download`, download: fileName(v), 'data-variant': v.variant }, label);
    void withToken(v.downloadUrl).then((href) => link.setAttribute('href', href));
    return link;
  };
  const share = canShareFiles() ? new ShareButton() : null;
  const downloadsHost = h('div', { class: 'download-list' });
  /** The main file first (the picked place, or run-through 1), its phone-size copy beside it, then the rest, each clip with its own. */
  function renderDownloads(): void {
    const main = canPick ? variants.find((v) => v.variant === chosen)! : clips[0] ?? variants[0];
    // Phone-size files are made from the main alignment's clips, so each goes with its clip only.
    const compactOf = (v: VariantView): VariantView | null => {
      const n = clipNumber(v);
      return n === null ? null : compacts.get(n) ?? null;
    };
    const compactRow = (c: VariantView, n: number | null) => h('div', { class: 'download-row compact' },
      downloadLink(c, t('download', { variant: clips.length > 1 && n !== null ? `${t('downloadCompact')} · ${t('variant_clip', { n })}` : t('downloadCompact') }), false),
      h('span', { class: 'muted small num' }, `${formatBytes(sizeOf(c), lang())}${c.height ? ` · ${c.height}p` : ''} · ${t('compactNote')}`));
    const compactHere = compactOf(main);
    const rows: HTMLElement[] = [];
    const mainRow = h('div', { class: 'download-row main' }, downloadLink(main, t('download', { variant: variantLabel(main.variant) }), true), h('span', { class: 'muted small num' }, sizeLine(main)));
    rows.push(mainRow);
    if (compactHere) rows.push(compactRow(compactHere, clipNumber(main)));
    if (share) {
      // The phone-size file is what goes to a chat; without one, the main file.
      const sent = compactHere ?? main;
      share.target(sent, fileName(sent));
      mainRow.append(share.button);
    }
    for (const v of variants) {
      if (v === main) continue;
      rows.push(h('div', { class: 'download-row' }, downloadLink(v, t('download', { variant: variantLabel(v.variant) }), false), h('span', { class: 'muted small num' }, sizeLine(v))));
      const c = compactOf(v);
      if (c) rows.push(compactRow(c, clipNumber(v)));
    }
    downloadsHost.replaceChildren(...rows);
  }
  const expiry = h('p', { class: 'muted small' }, job.expiresAt ? t('expires', { date: formatDate(job.expiresAt) }) : '');

  // ---- doubt: said first, both places side by side, one tap picks (nothing is rendered again) ----
  let doubtCard: HTMLElement | null = null;
  const pickButtons: HTMLButtonElement[] = [];
  function pick(v: 'trimmed' | 'alternate'): void {
    chosen = v;
    localStorage.setItem(PICK_KEY(job.jobId), v);
    for (const b of pickButtons) {
      const on = b.dataset.variant === v;
      b.setAttribute('aria-pressed', String(on));
      b.className = on ? 'primary pick' : 'secondary pick';
      setText(b, on ? `✓ ${t('picked')}` : t('pickThis'));
    }
    renderDownloads();
    if (current !== v) void select(v);
  }
  if (doubtful) {
    const help = h('p', null, canPick ? t('doubtHelpTwo') : t('doubtHelpOne'));
    const parts: HTMLElement[] = [h('h2', { id: 'doubt-title' }, t('doubtTitle')), help];
    if (canPick) {
      const places = [{ view: trimmed!, a: alignment }, { view: alternate!, a: report.alternate ?? null }];
      const players: HTMLVideoElement[] = [];
      const figures = places.map(({ view, a }, i) => {
        const el = h('video', { controls: true, playsInline: true, preload: 'metadata', class: 'player', 'aria-labelledby': `cand-${view.variant}` });
        el.setAttribute('playsinline', '');
        void withToken(view.url).then((src) => { el.src = src; });
        players.push(el);
        const name = h('h3', { id: `cand-${view.variant}` }, t('candidate', { n: i + 1 }),
          a ? h('span', { class: 'muted small' }, ` · ${t('candidateSong', { t: formatClock(Math.max(0, a.offsetSeconds + a.speed * (a.musicStart || 0))) })}`) : null);
        const b = h('button', { type: 'button', class: 'secondary pick', 'data-variant': view.variant, 'aria-describedby': `cand-${view.variant}`, onclick: () => pick(view.variant as 'trimmed' | 'alternate') }, t('pickThis'));
        pickButtons.push(b);
        return h('div', { class: 'candidate', 'data-variant': view.variant }, name, h('div', { class: 'player-box' }, el), b);
      });
      const both = h('button', { type: 'button', class: 'secondary', onclick: () => {
        players[1].currentTime = players[0].currentTime;
        // One sound at a time: two songs at once would tell the user nothing.
        players[1].muted = true;
        void players[0].play();
        void players[1].play();
      } }, t('playBothCandidates'));
      parts.push(h('div', { class: 'candidates' }, ...figures), h('div', { class: 'row' }, both));
    }
    doubtCard = h('section', { class: 'card doubt', 'aria-labelledby': 'doubt-title' }, ...parts);
  }

  host.append(
    ...(doubtCard ? [doubtCard] : []),
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
        segmentList,
        pictureNote,
        details,
      ),
      h('section', { class: 'card nudge', 'aria-labelledby': 'nudge-title' },
        h('h2', { id: 'nudge-title' }, t('nudgeTitle')),
        h('p', { class: 'muted small', id: 'nudge-help' }, t('nudgeHelp')),
        h('label', { for: 'nudge', id: 'nudge-label' }, t('nudgeLabel')),
        h('div', { class: 'nudge-row' }, number, h('div', { class: 'steps' }, stepButton(-1000), stepButton(-10), stepButton(-1), stepButton(1), stepButton(10), stepButton(1000))),
        range,
        h('div', { class: 'row' }, previewButton, renderButton),
        nudgeStatus,
        h('p', { class: 'muted small sync-off-help' }, t('syncOffHelp')),
        syncOff,
        syncOffStatus,
      ),
      h('section', { class: 'card downloads', 'aria-labelledby': 'dl-title' },
        h('h2', { id: 'dl-title' }, t('downloadsTitle')),
        downloadsHost,
        expiry,
      ),
    ),
  );
  if (canPick) pick(chosen);
  else renderDownloads();
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
class ShareButton {
  readonly button = h('button', { type: 'button', class: 'secondary share' }, t('share'));
  private view: VariantView | null = null;
  private name = '';
  private file: File | null = null;

  constructor() {
    this.button.addEventListener('click', () => void this.share());
  }

  /** What the next tap sends (a new pick drops the file fetched for the old one). */
  target(view: VariantView, name: string): void {
    if (this.view?.variant !== view.variant) this.file = null;
    this.view = view;
    this.name = name;
    this.button.dataset.variant = view.variant;
  }

  private async share(): Promise<void> {
    if (!this.view) return;
    try {
      if (!this.file) {
        setText(this.button, t('sharing'));
        const blob = await (await fetch(await withToken(this.view.url))).blob();
        this.file = new File([blob], this.name, { type: 'video/mp4' });
      }
      await navigator.share({ files: [this.file], title: this.name });
    } catch {
      // Fetching took the user's tap away (NotAllowedError): the next tap shares at once.
    } finally {
      setText(this.button, t('share'));
    }
  }
}
