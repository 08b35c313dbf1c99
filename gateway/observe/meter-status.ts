/**
 * Each meter's status for health and metrics: whether its driver reaches it, when its newest accepted reading
 * ended, and what of it was refused, by code. Fed by the drivers (`MeterReport`, link and frames) and by the
 * intake (`IntakeReport`, accepted and refused readings); never sees a reading's value.
 *
 * A meter is `down` while its driver reports its link down (serial port lost or silent, no Modbus answer, meter
 * broker unreachable); else `stale` when no reading of it was accepted for more than `staleIntervals` intervals
 * (counted from the gateway's start for a meter not heard from since); else `up`.
 */
import type { MeterConfig } from '../config/schema.ts';
import type { MeterHealth, MeterState } from '../protocol/health-message.ts';
import type { Clock } from '../time/clock.ts';
import { isoUtc } from '../time/zoned.ts';

/** What a driver tells of its meters (DriverContext.report). */
export interface MeterReport {
  /** The meter's link answers (true) or not (false). */
  link(meterId: string, up: boolean): void;
  /** A frame or payload of the meter was refused. */
  rejected(meterId: string, code: string): void;
}

/** What the intake tells of each reading it decided on (Intake.reportTo). */
export interface IntakeReport {
  accepted(meterId: string, intervalStart: number): void;
  rejected(meterId: string, code: string): void;
}

export interface MeterStatusOptions {
  intervalMs: number;
  /** Intervals without an accepted reading after which a meter is stale (`observe.staleIntervals`). */
  staleIntervals: number;
  /** The aggregation grace (`intervals.graceMinutes`): the last interval reported is the newest past it. */
  graceMs: number;
  /** Data-clock time the gateway started at. */
  startedAt: number;
  /** The last accepted interval start of a meter before this run (the buffer's cursor). */
  cursor(meterId: string): number | undefined;
}

interface Entry {
  driver: string;
  linkUp: boolean | undefined;
  lastEnd: number | undefined;
  accepted: number;
  rejected: Map<string, number>;
}

export interface MeterStatusSnapshot {
  counts: Record<MeterState | 'configured' | 'seen', number>;
  lastInterval: { start: number; end: number; accepted: number };
  meters: MeterHealth[];
}

export class MeterStatus implements MeterReport, IntakeReport {
  private readonly entries = new Map<string, Entry>();
  /** Readings accepted per interval start, for the intervals near the newest one past the grace. */
  private readonly perInterval = new Map<number, number>();

  constructor(
    private readonly opts: MeterStatusOptions,
    private readonly clock: Clock,
    meters: readonly MeterConfig[],
  ) {
    this.setMeters(meters);
  }

  /** The meters of a new configuration: known ones keep their status, removed ones go. */
  setMeters(meters: readonly MeterConfig[]): void {
    const ids = new Set(meters.map((m) => m.id));
    for (const id of this.entries.keys()) if (!ids.has(id)) this.entries.delete(id);
    for (const m of meters) {
      const known = this.entries.get(m.id);
      if (known) {
        known.driver = m.source.driver;
        continue;
      }
      const cursor = this.opts.cursor(m.id);
      this.entries.set(m.id, {
        driver: m.source.driver,
        linkUp: undefined,
        lastEnd: cursor === undefined ? undefined : cursor + this.opts.intervalMs,
        accepted: 0,
        rejected: new Map(),
      });
    }
  }

  link(meterId: string, up: boolean): void {
    const e = this.entries.get(meterId);
    if (e) e.linkUp = up;
  }

  rejected(meterId: string, code: string): void {
    const e = this.entries.get(meterId);
    if (e) e.rejected.set(code, (e.rejected.get(code) ?? 0) + 1);
  }

  accepted(meterId: string, intervalStart: number): void {
    const e = this.entries.get(meterId);
    if (!e) return;
    e.accepted++;
    e.lastEnd = Math.max(e.lastEnd ?? -Infinity, intervalStart + this.opts.intervalMs);
    if (intervalStart >= this.oldestCounted(this.clock.now())) {
      this.perInterval.set(intervalStart, (this.perInterval.get(intervalStart) ?? 0) + 1);
    }
  }

  snapshot(): MeterStatusSnapshot {
    const now = this.clock.now();
    const { intervalMs, staleIntervals, startedAt } = this.opts;
    for (const start of this.perInterval.keys()) {
      if (start < this.oldestCounted(now)) this.perInterval.delete(start);
    }
    const counts = { configured: this.entries.size, seen: 0, up: 0, stale: 0, down: 0 };
    const meters = [...this.entries].map(([id, e]): MeterHealth => {
      const silentFor = now - (e.lastEnd ?? startedAt);
      const state: MeterState =
        e.linkUp === false ? 'down' : silentFor > staleIntervals * intervalMs ? 'stale' : 'up';
      counts[state]++;
      if (e.accepted > 0) counts.seen++;
      return {
        id,
        driver: e.driver,
        state,
        lastIntervalEnd: e.lastEnd === undefined ? null : isoUtc(e.lastEnd),
        accepted: e.accepted,
        rejected: Object.fromEntries([...e.rejected].sort(([a], [b]) => a.localeCompare(b))),
      };
    });
    const end = this.lastDecidedEnd(now);
    const start = end - intervalMs;
    return { counts, lastInterval: { start, end, accepted: this.perInterval.get(start) ?? 0 }, meters };
  }

  /** End of the newest interval whose aggregation grace has passed. */
  private lastDecidedEnd(now: number): number {
    const { intervalMs, graceMs } = this.opts;
    return Math.floor((now - graceMs) / intervalMs) * intervalMs;
  }

  /** Readings of intervals older than this are not counted per interval (bounded memory). */
  private oldestCounted(now: number): number {
    return this.lastDecidedEnd(now) - 2 * this.opts.intervalMs;
  }
}
