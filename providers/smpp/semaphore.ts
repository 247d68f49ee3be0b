/**
 * Waits in `queue` until something calls the queued function (a FIFO of wake-ups), or `signal` aborts: then the
 * waiter leaves the queue, so a later wake-up is not spent on it.
 */
export function waitInQueue(queue: Array<() => void>, signal: AbortSignal | undefined, onWake: () => void = () => {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const waiter = () => {
      signal?.removeEventListener('abort', onAbort);
      onWake();
      resolve();
    };
    const onAbort = () => {
      const at = queue.indexOf(waiter);
      if (at >= 0) queue.splice(at, 1);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    queue.push(waiter);
  });
}

/** Counted permits, first come first served; a waiter whose signal aborts leaves the queue. */
export class Semaphore {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly permits: number) {}

  get inUse(): number {
    return this.used;
  }

  acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.used < this.permits && this.waiters.length === 0) {
      this.used++;
      return Promise.resolve();
    }
    return waitInQueue(this.waiters, signal, () => this.used++);
  }

  release(): void {
    this.used--;
    this.waiters.shift()?.();
  }
}
