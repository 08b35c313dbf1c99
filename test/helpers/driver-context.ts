/** A DriverContext for driver tests: readings collected in an array, no cursor, a silent log. */
import type { DriverContext } from '../../drivers/driver.ts';
import type { Reading, SealedReadingIn } from '../../gateway/acquire/reading.ts';
import type { MeterConfig } from '../../gateway/config/schema.ts';
import { silentLogger } from '../../gateway/observe/log.ts';
import type { MeterReport } from '../../gateway/observe/meter-status.ts';
import type { Metrics } from '../../gateway/observe/metrics.ts';
import type { Clock } from '../../gateway/time/clock.ts';

export interface TestContextOptions {
  meters: readonly MeterConfig[];
  readings: Reading[];
  clock: Clock;
  intervalMs: number;
  metrics: Metrics;
  /** Collects what a sealed-reading driver hands over, when given. */
  sealed?: SealedReadingIn[];
  /** Receives what the driver reports of its meters' links and refused frames (default: nothing). */
  report?: MeterReport;
}

export function driverContext(o: TestContextOptions): DriverContext {
  return {
    meters: o.meters,
    sink: (r) => o.readings.push(r),
    ...(o.sealed ? { sealedSink: (r: SealedReadingIn) => o.sealed!.push(r) } : {}),
    clock: o.clock,
    startedAt: o.clock.now(),
    intervalMs: o.intervalMs,
    cursor: () => undefined,
    metrics: o.metrics,
    report: o.report ?? { link: () => undefined, rejected: () => undefined },
    log: silentLogger(),
  };
}
