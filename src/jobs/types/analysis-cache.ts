// The analysis of a (dance, song) pair, kept beside the dance upload: a later job on the same two files (the
// page's nudge, other variants) goes straight to rendering instead of probing, decoding and aligning again.
// It lives and goes with the upload (the janitor removes uploads/<fileId>/ as a whole). Reading is best
// effort: anything unexpected means "not cached", and the job analyses as if it were not there.
import { ENGINE_VERSION } from '../../pipeline/index.ts';
import type { Analysis } from '../../pipeline/types.ts';
import { readStoredJson, writeStoredJson } from '../../storage/json.ts';
import type { FileStore } from '../../storage/types.ts';

/** A saved analysis is a few hundred kB (the loudness curves); anything far larger is not ours. */
const MAX_BYTES = 16 * 1024 * 1024;

interface CachedAnalysis {
  engineVersion: string;
  danceFileId: string;
  bgmFileId: string;
  analysis: Analysis;
}

export const analysisCacheKey = (danceFileId: string, bgmFileId: string): string => `uploads/${danceFileId}/analysis-${bgmFileId}.json`;

export async function readCachedAnalysis(files: FileStore, danceFileId: string, bgmFileId: string): Promise<Analysis | null> {
  const key = analysisCacheKey(danceFileId, bgmFileId);
  try {
    const info = await files.stat(key);
    if (!info || info.size > MAX_BYTES) return null;
    const saved = (await readStoredJson(files, key)) as Partial<CachedAnalysis> | null;
    if (!saved || saved.engineVersion !== ENGINE_VERSION || saved.danceFileId !== danceFileId || saved.bgmFileId !== bgmFileId) return null;
    return isAnalysis(saved.analysis) ? saved.analysis : null;
  } catch {
    return null;
  }
}

/** Saves the analysis for later jobs; a failure only means the next job analyses again. */
export async function saveCachedAnalysis(files: FileStore, danceFileId: string, bgmFileId: string, analysis: Analysis): Promise<boolean> {
  const saved: CachedAnalysis = { engineVersion: ENGINE_VERSION, danceFileId, bgmFileId, analysis };
  try {
    await writeStoredJson(files, analysisCacheKey(danceFileId, bgmFileId), saved);
    return true;
  } catch {
    return false;
  }
}

function isAnalysis(a: unknown): a is Analysis {
  if (!a || typeof a !== 'object') return false;
  const x = a as Partial<Analysis>;
  const media = (m: unknown) => Boolean(m && typeof m === 'object' && Array.isArray((m as { audio?: unknown }).audio) && Array.isArray((m as { video?: unknown }).video));
  return Boolean(x.alignment && typeof x.alignment === 'object' && typeof x.alignment.offsetSeconds === 'number' && media(x.dance) && media(x.bgm) && 'alternate' in x);
}
