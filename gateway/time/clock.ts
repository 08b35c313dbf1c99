/**
 * Time is injected (STYLE.md §2). The gateway reads two clocks:
 * - `clock`, the data clock: which intervals have closed, which billing period is open. In production it is the
 *   system clock; for replaying recorded data it is a virtual clock that starts at a chosen instant and runs
 *   `speed` times faster than real time (a day per minute is speed 1440).
 * - `wall`, calendar time for timestamps in messages, and `elapsed` (monotonic) for network back-off, timeouts,
 *   ages and rates, which must neither speed up with the data nor move when NTP steps the system clock.
 * The data clock the gateway acts on never goes back (`steady-clock.ts`).
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** Calendar time as the system has it: NTP may step it forwards or backwards (no RTC on a Pi). */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * Real elapsed time that no clock step moves (`performance.now()`, CLOCK_MONOTONIC), read as epoch milliseconds
 * from the process's start: for durations only (back-off, timeouts, ages, rates, uptime), never for calendar time.
 */
export const monotonicClock: Clock = {
  now: () => Math.floor(performance.timeOrigin + performance.now()),
};

/**
 * A clock that reads `start` at the base instant `anchor` (default: when it is made) and runs `speed` times
 * faster than `base`. A shared anchor lets separate processes (the gateway, emulated meters) share one timeline.
 */
export class VirtualClock implements Clock {
  private readonly baseAtStart: number;

  constructor(
    private readonly start: number,
    private readonly speed: number,
    private readonly base: Clock = systemClock,
    anchor?: number,
  ) {
    this.baseAtStart = anchor ?? base.now();
  }

  now(): number {
    return this.start + Math.floor((this.base.now() - this.baseAtStart) * this.speed);
  }
}

/** A clock a test moves by hand. */
export class ManualClock implements Clock {
  constructor(private current: number) {}

  now(): number {
    return this.current;
  }

  set(epochMs: number): void {
    this.current = epochMs;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
