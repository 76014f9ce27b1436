// Which outputs a render makes, in what order: the stream-copied variants first (render.ts), then the
// `compact` copies encoded from the finished run-through clips. Splits the render stage's progress between them.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { toBeatSyncError } from '../errors.ts';
import { renderCompact } from './compact.ts';
import { STAGE_RANGE, elapsedMs, stageReporter } from './progress.ts';
import type { RenderOutcome } from './render.ts';
import type { RenderOptions, RenderedVariant, StageProgress, VariantName } from './types.ts';

/** A compact's share of the render progress against 1 per stream-copied variant: it encodes every frame. */
const COMPACT_WEIGHT = 4;

type RenderCopies = (variants: VariantName[], options: RenderOptions) => Promise<RenderOutcome>;

/**
 * `compact` is a phone-size copy of every run-through clip (`clipNames`: trimmed, trimmed-2, …), encoded
 * one after another from the finished clips; clips asked for only as its sources are removed after.
 */
export async function renderWithCompact(
  requested: readonly VariantName[],
  clipNames: readonly VariantName[],
  outDir: string,
  options: RenderOptions,
  renderCopies: RenderCopies,
): Promise<RenderOutcome> {
  const unique = requested.filter((v, i, all) => all.indexOf(v) === i);
  if (!unique.includes('compact')) return renderCopies(unique, options);
  const copies = unique.flatMap((v) => (v === 'trimmed' ? clipNames : v === 'compact' ? [] : [v])).filter((v, i, all) => all.indexOf(v) === i);
  const sourcesOnly = clipNames.filter((c) => !copies.includes(c));
  copies.unshift(...sourcesOnly);
  const share = (COMPACT_WEIGHT * clipNames.length) / (COMPACT_WEIGHT * clipNames.length + copies.length);
  const outcome = await renderCopies(copies, { ...options, onProgress: squeezeRender(options.onProgress, 1 - share) });
  const written = outcome.variants.map((v) => join(outDir, v.file));
  try {
    const sources = clipNames.map((name) => outcome.variants.find((v) => v.variant === name));
    if (sources.some((s) => s === undefined)) throw new Error('compact: a run-through clip was not rendered');
    const total = sources.reduce((sum, s) => sum + Math.max(0.1, s!.durationSeconds), 0);
    const report = stageReporter(options.onProgress);
    const start = performance.now();
    const compacts: RenderedVariant[] = [];
    let done = 0;
    for (const source of sources as RenderedVariant[]) {
      const part = Math.max(0.1, source.durationSeconds) / total;
      const before = done;
      compacts.push(await renderCompact(outDir, source, {
        signal: options.signal,
        threads: options.threads,
        longSide: options.compactLongSide,
        onProgress: (f, message) => report('render', 1 - share + share * (before + part * f), message),
      }));
      written.push(join(outDir, compacts[compacts.length - 1].file));
      done += part;
    }
    await Promise.all(sourcesOnly.map((name) => rm(join(outDir, outcome.variants.find((v) => v.variant === name)!.file), { force: true })));
    const variants = [...outcome.variants.filter((v) => !sourcesOnly.includes(v.variant)), ...compacts];
    report('render', 1, 'Rendered');
    return { ...outcome, variants, timings: { ...outcome.timings, 'render.compact': elapsedMs(start) } };
  } catch (error) {
    // Like a failed stream copy: nothing of this render is left behind.
    await Promise.all(written.map((path) => rm(path, { force: true })));
    throw toBeatSyncError(error);
  }
}

/** Maps the copies' render progress onto the first `fraction` of the render stage. */
function squeezeRender(onProgress: RenderOptions['onProgress'], fraction: number): RenderOptions['onProgress'] {
  if (!onProgress) return undefined;
  const [from] = STAGE_RANGE.render;
  return (p: StageProgress) => onProgress(p.stage === 'render' ? { ...p, percent: Math.round((from + (p.percent - from) * fraction) * 10) / 10 } : p);
}
