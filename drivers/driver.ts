/**
 * What every meter driver is given and must provide. A driver turns bytes (or rows) into Readings and hands them
 * to `sink`; it never throws out of its loop: bad input is counted and survived.
 */
import type { ReadingSink, SealedReadingSink } from '../gateway/acquire/reading.ts';
import type { MeterConfig } from '../gateway/config/schema.ts';
import type { Logger } from '../gateway/observe/log.ts';
import type { MeterReport } from '../gateway/observe/meter-status.ts';
import type { Metrics } from '../gateway/observe/metrics.ts';
import type { Clock } from '../gateway/time/clock.ts';

export interface DriverContext {
  /** The meters this driver serves. */
  meters: readonly MeterConfig[];
  sink: ReadingSink;
  /** For meters that encrypt their own readings: ciphertexts only (drivers/mqtt/sealed-payload.ts). */
  sealedSink?: SealedReadingSink;

  /**
   * Reports the identity a meter gives of itself, as soon as the driver reads it (DSMR equipment id 0-0:96.1.1,
   * SML server id, IEC 62056-21 serial, a Modbus serial-number register): the gateway binds it to the meter for
   * life (issue #14 A) and refuses the meter's readings if it is bound elsewhere. Call it before the readings of
   * the frame that carried it. False when the identity is refused (DEVICE_CHANGED, DEVICE_BOUND_ELSEWHERE): a
   * driver that may meet two devices on one source (Modbus TCP) keeps that device's values out of the meter's
   * intervals, as for `unidentified`. Never throws.
   */
  identify?(meterId: string, identity: string): boolean;

  /**
   * Reports that a meter is read on a connection whose device did not give its identity (a serial register that
   * could not be read or is blank), before the readings of that connection. True when the meter has a bound
   * device: its readings are refused until `identify` reports that device again (so whatever answers on a
   * re-pointed endpoint is not read as the meter), and the driver keeps that connection's values out of the
   * meter's intervals (an interval spanning two devices would leak one of them). False: read as before. Never throws.
   */
  unidentified?(meterId: string): boolean;

  /** The data clock. */
  clock: Clock;
  /** Data-clock time at which this gateway run began (the virtual clock's start, or the boot time). */
  startedAt: number;
  intervalMs: number;
  /** Last accepted interval start per meter, so a restarted driver resumes where the gateway left off. */
  cursor(meterId: string): number | undefined;
  metrics: Metrics;
  /** Each meter's link (up or down) and refused frames, for health and metrics. */
  report: MeterReport;
  log: Logger;
}

export interface Driver {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Emits what is due now; drivers that poll on a timer expose it for manual driving (benchmark). */
  poll?(): void;
  /**
   * Emits at once, without I/O, the readings the clock has already reached (replay). The gateway calls it on
   * every tick before deciding groups and bills: after a step of the clock its decisions would otherwise run
   * before the driver's own timer had its turn, and close a billing period without readings it had reached.
   */
  catchUp?(): void;
}
