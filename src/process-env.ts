// Environment for the processes that render (a job's process, `beatsync sync`): glibc's malloc set so that
// freed sample buffers go back to the system. By default its mmap threshold grows after each large free,
// up to 32 MB, so an analysis's buffers end up in the heap and stay resident while the renderer's ffmpegs
// run; and one arena, since what the thread pool frees in arenas of its own is never trimmed. 10-minute 4K,
// node at the smart-cut head: 118–127 MB with the defaults, 96–124 MB so (BENCHMARKS.md, "Rendering").
export const RENDER_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(128 * 1024),
  MALLOC_TRIM_THRESHOLD_: String(128 * 1024),
  MALLOC_ARENA_MAX: '1',
};

/** Whether this process started with those settings (glibc reads them once, at start). */
export function hasRenderMalloc(env: NodeJS.ProcessEnv = process.env): boolean {
  return Object.keys(RENDER_MALLOC_ENV).every((k) => Boolean(env[k]));
}

/** `env` with the render settings added where it does not set them itself. */
export function withRenderMalloc(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  for (const [k, v] of Object.entries(RENDER_MALLOC_ENV)) if (!out[k]) out[k] = v;
  return out;
}
