// Returns garbage to the system before the renderer starts its ffmpegs, so their memory does not add to it.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | null | undefined;

/**
 * One full garbage collection (~10 ms). After an analysis, tens of MB of dead sample buffers wait for
 * V8's next major collection, which may come only while two encoders run: collecting them first keeps
 * the whole process tree's peak well under the 300 MB budget (BENCHMARKS.md, "Rendering"). Uses the
 * `gc` function when node runs with --expose-gc, else exposes it once; does nothing if that fails.
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) {
      collect = exposed;
    } else {
      try {
        setFlagsFromString('--expose-gc');
        collect = runInNewContext('gc') as () => void;
      } catch {
        collect = null;
      }
    }
  }
  try {
    collect?.();
  } catch {
    collect = null;
  }
}
