/**
 * Emulated meters: replays households of a consumption CSV as meters. A row becomes a Reading when the data clock
 * passes the row's end, so with a virtual clock the replay runs time-compressed (speed 1440 = a day per minute)
 * and with the system clock in real time. A new meter starts with the first interval starting at or after the
 * time the gateway run began; after a restart each meter resumes after its last accepted interval.
 */
import type { Driver, DriverContext } from '../driver.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { readConsumptionCsv, type ConsumptionRow } from './consumption-csv.ts';

export interface ReplayOptions {
  file: string;
  timeZone: string;
  pollMs: number;
}

interface Track {
  meterId: string;
  rows: ConsumptionRow[];
  next: number;
}

export class ReplayDriver implements Driver {
  readonly name = 'replay';
  private tracks: Track[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: ReplayOptions,
    private readonly ctx: DriverContext,
  ) {}

  async start(): Promise<void> {
    const { ctx, opts } = this;
    const wanted = new Map<string, string>();
    for (const m of ctx.meters) if (m.source.driver === 'replay') wanted.set(m.id, m.source.household);
    const data = await readConsumptionCsv(opts.file, opts.timeZone, new Set(wanted.values()));
    if (data.malformedRows > 0) ctx.metrics.inc('replay.rows_malformed', data.malformedRows);
    if (data.duplicateRows > 0) ctx.metrics.inc('replay.rows_duplicate', data.duplicateRows);
    if (data.resolutionMs !== undefined && data.resolutionMs !== ctx.intervalMs) {
      throw new GatewayError(
        'DRIVER_FAILED',
        `${opts.file} has ${data.resolutionMs / 60_000}-minute rows but intervals.minutes is ${ctx.intervalMs / 60_000}`,
      );
    }
    this.tracks = [...wanted.entries()].map(([meterId, household]) => {
      const rows = data.households.get(household) ?? [];
      if (rows.length === 0) ctx.log.warn({ meter: meterId, household }, 'household has no rows in the CSV');
      // A meter resumes after its last accepted interval; a new one starts with the interval starting now.
      const cursor = ctx.cursor(meterId) ?? ctx.startedAt - 1;
      const next = rows.findIndex((r) => r.end - ctx.intervalMs > cursor);
      return { meterId, rows, next: next < 0 ? rows.length : next };
    });
    ctx.log.info(
      {
        file: opts.file,
        meters: this.tracks.length,
        malformed: data.malformedRows,
        duplicates: data.duplicateRows,
      },
      'replay driver started',
    );
    if (this.tracks.length > 0 && this.finished) {
      ctx.log.warn(
        { clock: new Date(ctx.startedAt).toISOString() },
        'no CSV rows after the clock: replaying recorded data needs clock.mode virtual with a start inside the data',
      );
    }
    this.poll();
    // pollMs 0: the caller polls (manual mode of the gateway).
    if (opts.pollMs > 0) this.timer = setInterval(() => this.poll(), opts.pollMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return Promise.resolve();
  }

  /** True once every row of every meter has been emitted. */
  get finished(): boolean {
    return this.tracks.every((t) => t.next >= t.rows.length);
  }

  catchUp(): void {
    this.poll();
  }

  poll(): void {
    const wasFinished = this.finished;
    const now = this.ctx.clock.now();
    for (const track of this.tracks) {
      while (track.next < track.rows.length && track.rows[track.next]!.end <= now) {
        const row = track.rows[track.next++]!;
        this.ctx.sink({
          meterId: track.meterId,
          start: row.end - this.ctx.intervalMs,
          end: row.end,
          wh: row.wh,
        });
      }
    }
    if (!wasFinished && this.finished)
      this.ctx.log.info('replay finished: every row of the CSV has been emitted');
  }
}
