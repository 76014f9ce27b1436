// Keeps the phone's screen on while something the user waits for is going on (uploads, processing),
// where the browser has the Screen Wake Lock API; re-taken when the page becomes visible again.
const holders = new Set<string>();
let sentinel: WakeLockSentinel | null = null;

async function sync(): Promise<void> {
  const want = holders.size > 0 && document.visibilityState === 'visible';
  if (want && !sentinel && 'wakeLock' in navigator) {
    try {
      sentinel = await navigator.wakeLock.request('screen');
      sentinel.addEventListener('release', () => {
        sentinel = null;
      });
    } catch {
      // Refused (battery saver, not allowed): the work goes on anyway.
    }
  } else if (!want && sentinel) {
    const s = sentinel;
    sentinel = null;
    await s.release().catch(() => undefined);
  }
}

document.addEventListener('visibilitychange', () => void sync());

export function holdWakeLock(reason: string, hold: boolean): void {
  if (hold) holders.add(reason);
  else holders.delete(reason);
  void sync();
}
