/**
 * Waiting, for the poller: a backstop for requests that never settle, and a sleep that a stop cuts short.
 */
import { GatewayError } from '../../gateway/errors.ts';

export class DeadlineError extends GatewayError {
  constructor() {
    super('DEVICE_TIMEOUT', 'the transport did not settle in time');
  }
}

/**
 * The transport's own timeout should settle every request; this backstop (twice that, plus 100 ms) keeps a bus
 * from hanging on a request that a closed connection will never settle.
 */
export function deadline<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const backstop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError()), timeoutMs * 2 + 100);
  });
  promise.catch(() => undefined); // the loser of the race must not become an unhandled rejection
  return Promise.race([promise, backstop]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
