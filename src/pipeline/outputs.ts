// Which outputs a render makes, in what order: the stream-copied variants first (render.ts), then the
// `compact` copy encoded from the finished `trimmed`. Splits the render stage's progress between them.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { toBeatSyncError } from '../errors.ts';
import { renderCompact } from './compact.ts';
import { STAGE_RANGE, elapsedMs, stageReporter } from './progress.ts';
import type { RenderOutcome } from './render.ts';
import type { RenderOptions, RenderedVariant, StageProgress, VariantName } from './types.ts';

/** compact's share of the render progress against 1 per stream-copied variant: it encodes every frame. */
const COMPACT_WEIGHT = 4;

type RenderCopies = (variants: VariantName[], options: RenderOptions, allClips: boolean) => Promise<RenderOutcome>;

export async function renderWithCompact(requested: readonly VariantName[], outDir: string, options: RenderOptions, renderCopies: RenderCopies): Promise<RenderOutcome> {
  const unique = requested.filter((v, i, all) => all.indexOf(v) === i);
  if (!unique.includes('compact')) return renderCopies(unique, options, true);
  const copies = unique.filter((v) => v !== 'compact');
  // Asked for compact alone: its source `trimmed` (the first run-through only) is made and removed after.
  const sourceOnly = !copies.includes('trimmed');
  if (sourceOnly) copies.unshift('trimmed');
  const share = COMPACT_WEIGHT / (COMPACT_WEIGHT + copies.length);
  const outcome = await renderCopies(copies, { ...options, onProgress: squeezeRender(options.onProgress, 1 - share) }, !sourceOnly);
  const written = outcome.variants.map((v) => join(outDir, v.file));
  try {
    const source = outcome.variants.find((v) => v.variant === 'trimmed');
    if (!source) throw new Error('compact: trimmed was not rendered');
    const report = stageReporter(options.onProgress);
    const start = performance.now();
    const compact: RenderedVariant = await renderCompact(outDir, source, {
      signal: options.signal,
      threads: options.threads,
      longSide: options.compactLongSide,
      onProgress: (f, message) => report('render', 1 - share + share * f, message),
    });
    let variants = [...outcome.variants, compact];
    if (sourceOnly) {
      await rm(join(outDir, source.file), { force: true });
      variants = variants.filter((v) => v !== source);
    }
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
