// A counting semaphore for the render's child processes, so the variants rendered side by side never
// run more ffmpeg/ffprobe at once than the memory budget allows. First come, first served.

export interface ProcessSlots {
  /** Runs `step` once `count` slots are free, holding them until it settles. */
  run<T>(count: number, step: () => Promise<T>): Promise<T>;
}

export function processSlots(capacity: number): ProcessSlots {
  let free = capacity;
  const waiting: { count: number; start: () => void }[] = [];
  const release = (count: number) => {
    free += count;
    // In order: a later, smaller request does not overtake one waiting for more slots.
    while (waiting.length > 0 && waiting[0].count <= free) {
      const next = waiting.shift()!;
      free -= next.count;
      next.start();
    }
  };
  return {
    async run<T>(count: number, step: () => Promise<T>): Promise<T> {
      const need = Math.min(count, capacity);
      if (waiting.length === 0 && need <= free) free -= need;
      else await new Promise<void>((start) => waiting.push({ count: need, start }));
      try {
        return await step();
      } finally {
        release(need);
      }
    },
  };
}
