/**
 * The emulator's clock: emulated time runs from `start` at `speed` × real time, and `emit(t)` is called for every
 * step of emulated time (aligned to whole steps since the epoch, so that frames fall exactly on interval
 * boundaries, as a real meter's 1-second or 10-second frames do). When the process is late it catches up.
 */
export interface TimeLoopOptions {
  start: number;
  speed: number;
  stepMs: number;
  /** Stop after this emulated instant (inclusive); default: run until stopped. */
  until?: number;
  /** Real instant at which emulated time is `start`; default: when the loop is made. */
  realStart?: number;
}

export class TimeLoop {
  private timer: NodeJS.Timeout | undefined;
  private next: number;
  private readonly realStart: number;
  private stopped = false;

  constructor(
    private readonly opts: TimeLoopOptions,
    private readonly emit: (t: number) => void | Promise<void>,
    private readonly onEnd: () => void = () => {},
  ) {
    this.next = Math.ceil(opts.start / opts.stepMs) * opts.stepMs;
    this.realStart = opts.realStart ?? Date.now();
  }

  /** Emulated now. */
  now(): number {
    return this.opts.start + (Date.now() - this.realStart) * this.opts.speed;
  }

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const { until, stepMs, speed } = this.opts;
    while (this.next <= this.now()) {
      if (until !== undefined && this.next > until) {
        this.stopped = true;
        this.onEnd();
        return;
      }
      await this.emit(this.next);
      this.next += stepMs;
      if (this.stopped) return;
    }
    const waitMs = Math.max(1, (this.next - this.now()) / speed);
    this.timer = setTimeout(() => void this.run(), waitMs);
  }
}
