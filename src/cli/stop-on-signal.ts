// The shutdown both long-running nodes share (serve.ts for API nodes, worker-node.ts for workers):
// the first SIGTERM/SIGINT starts a graceful stop, a second one gives up on it.

export interface StopHooks {
  /** Called when a second signal arrives while the first stop still runs. */
  onSecondSignal?: (signal: string) => void;
  /** Called when the graceful stop throws. */
  onError: (error: unknown) => void;
}

/**
 * Resolves with the exit code once a signal has stopped the node: 0 when `stop` succeeds, 1 when it
 * throws or when a second signal comes before it has finished.
 */
export function stopOnSignal(stop: (signal: string) => Promise<void>, hooks: StopHooks): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) {
        hooks.onSecondSignal?.(signal);
        resolve(1);
        return;
      }
      stopping = true;
      try {
        await stop(signal);
        resolve(0);
      } catch (error) {
        hooks.onError(error);
        resolve(1);
      }
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  });
}
