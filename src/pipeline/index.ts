// The sync pipeline (analyse → render → report), used by the CLI and the job system.
export { analyzeFiles } from './analyze.ts';
export { defaultVariants, renderVariants, renderWithDetails, SYNC_TOLERANCE_SECONDS } from './render.ts';
export type { RenderOutcome } from './render.ts';
export { REPORT_FILE, buildReport, writeJsonAtomic } from './report.ts';
export { syncFiles } from './sync.ts';
export { STAGE_RANGE } from './progress.ts';
export { ENGINE_VERSION } from './version.ts';
export type { Analysis, AnalyzeOptions, LoudnessEnvelopes, RenderOptions, RenderedVariant, SmartCutReport, StageProgress, SyncReport, SyncResult, VariantName } from './types.ts';
