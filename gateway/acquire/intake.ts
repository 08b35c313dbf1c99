/**
 * The boundary between drivers and the core: validates each Reading, encrypts it at once and stores the
 * ciphertext. Every rejection is counted under its error code and logged once, without the reading's value.
 *
 * The gateway's clock is not trusted blindly: a reading that ends after the gateway's "now" (a Pi without a
 * real-time clock runs behind until NTP sets it; the meters' clocks are right) is encrypted as usual and its
 * ciphertext held in SQLite (`held_readings`) until the gateway's clock reaches it (`releaseHeld`, every tick),
 * up to `buffer.maxReadingAgeDays` ahead and `buffer.maxPendingReadings` readings.
 *
 * A commit the storage refuses (disk full, read-only file system: `isStorageFailure`) loses nothing at once: the
 * ciphertexts wait in memory, in order, and are committed first by the next flush (every tick retries), up to
 * `maxUnstoredReadings`; past it the oldest are dropped and counted as rejected under the storage's code.
 */
import type { MeterConfig } from '../config/schema.ts';
import type { BufferStore, EncryptedReading } from '../buffer/buffer.ts';
import { GatewayError, errorCode } from '../errors.ts';
import type { ReadingEncryptor } from '../encrypt/reading-encryptor.ts';
import type { Logger } from '../observe/log.ts';
import type { IntakeReport } from '../observe/meter-status.ts';
import type { Metrics } from '../observe/metrics.ts';
import { isStorageFailure, type StorageStatus } from '../observe/storage-status.ts';
import type { Clock } from '../time/clock.ts';
import type { Span } from '../time/periods.ts';
import { isoUtc } from '../time/zoned.ts';
import { fromBytes, toBytes } from '../encrypt/bigint.ts';
import { assertCiphertext, type PaillierPublicKey } from '../encrypt/paillier.ts';
import type { Reading, SealedReadingIn } from './reading.ts';

/** Checks each meter against the device it is bound to (gateway/devices/meter-guard.ts). */
export interface MeterAdmission {
  /** Throws the meter's refusal (DEVICE_BOUND_ELSEWHERE, DEVICE_CHANGED, …), if any. */
  admit(meter: MeterConfig): void;
  /** True for a refusal already logged (once per meter). */
  isLogged(error: unknown): boolean;
}

/** What a plaintext and a sealed reading share: the meter and the interval. */
type ReadingSlot = Pick<Reading, 'meterId' | 'start' | 'end'>;

/** The longest a ciphertext waits in memory for its group commit. */
const MAX_QUEUE_MS = 20;

/** How far a reading may end after the gateway's "now" before it is taken for a clock error. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

export interface IntakeOptions {
  meters: readonly MeterConfig[];
  intervalMs: number;
  maxWhPerReading: number;
  maxReadingAgeMs: number;
  billingPeriodOf: (epochMs: number) => Span;
  /** The tariff band of the interval starting at `epochMs` (TariffBands.bandAt). */
  bandOf: (epochMs: number) => number;
  /** A period is closed this long after its end; a reading of a closed period is billed in the current one. */
  billingGraceMs: number;
  /**
   * The data time up to which the billing closer has run (every period that ended a grace before it is closed);
   * default: now. After a forward jump the readings in between still go to their own periods, which close next.
   */
  billedThrough?: () => number;
  /** At most this many readings from ahead of the gateway's clock are held. */
  maxHeldReadings: number;
  /**
   * At most this many ciphertexts wait in memory while the buffer refuses writes (buffer.maxUnstoredReadings);
   * none when absent.
   */
  maxUnstoredReadings?: number;
}

/** What `prepare` makes of a reading: a ciphertext for the buffer, or nothing for now (held). */
type Prepared = { item: EncryptedReading; billedLate: boolean } | undefined;

/**
 * Seals a plaintext reading for its household (and the third parties it consented to) the moment it is
 * encrypted, and returns what delivers those sealed copies; the intake runs it only once the reading's
 * ciphertext is committed (or held), so a reading the buffer refuses is not streamed either. Never throws.
 */
export type ReadingStream = (reading: Reading) => (() => void) | undefined;

interface Queued {
  item: EncryptedReading;
  /** Delivers the reading's sealed copies once it is committed. */
  deliver: (() => void) | undefined;
  meterId: string;
  start: number;
  /** When the driver handed the reading over (performance.now()). */
  accepted: number;
  billedLate: boolean;
  /** Its commit was refused by the storage at least once (counted once, `readings.unstored`). */
  waited?: boolean;
}

/**
 * Readings are validated and encrypted the moment they arrive; the ciphertexts of one event-loop turn (all a
 * driver emitted in one go) are then committed together, in one SQLite transaction (`flush`).
 */
export class Intake {
  private meters: Map<string, MeterConfig>;
  private queue: Queued[] = [];
  /** Ciphertexts whose commit the storage refused, oldest first: committed before `queue` by the next flush. */
  private unstored: Queued[] = [];
  /** Told of every commit that the storage refused or took (the health's storage status). */
  private storage: StorageStatus | undefined;
  /** True from the first ciphertext dropped past maxUnstoredReadings until a commit succeeds. */
  private dropping = false;
  private flushScheduled = false;
  /** True while readings are being held (one warning per episode). */
  private holding = false;
  /** Where each plaintext reading is also sealed to its household (CustomerService.live). */
  private stream: ReadingStream | undefined;
  /** Where each meter's accepted and refused readings are reported (its status for health and metrics). */
  private report: IntakeReport | undefined;
  /** Where each meter is checked against its bound device; none: every configured meter is taken. */
  private admission: MeterAdmission | undefined;

  constructor(
    private readonly opts: IntakeOptions,
    private readonly key: PaillierPublicKey,
    private readonly clock: Clock,
    private readonly encryptor: ReadingEncryptor,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.meters = new Map(opts.meters.map((m) => [m.id, m]));
  }

  /** The ReadingSink handed to drivers. Never throws. */
  readonly accept = (reading: Reading): void => {
    const sealed: { deliver?: (() => void) | undefined } = {};
    this.enqueue(
      reading.meterId,
      reading.start,
      () =>
        this.prepare(reading, (band) => {
          const ciphertext = this.encryptPlain(reading, band);
          // The household's sealed copy, made at the same moment (invariant 1: sealed to its own key only).
          sealed.deliver = this.stream?.(reading);
          return ciphertext;
        }),
      false,
      sealed,
    );
  };

  /** The meters readings are accepted for, from now on (remote configuration; drivers are stopped meanwhile). */
  setMeters(meters: readonly MeterConfig[]): void {
    this.flush();
    this.meters = new Map(meters.map((m) => [m.id, m]));
  }

  /** Seals every accepted plaintext reading to its household too (docs/customers.md). */
  streamTo(stream: ReadingStream): void {
    this.stream = stream;
  }

  /** Tells `status` of every commit the storage refused or took. */
  storageTo(status: StorageStatus): void {
    this.storage = status;
  }

  /** Ciphertexts waiting in memory for the buffer to take writes again. */
  get unstoredCount(): number {
    return this.unstored.length;
  }

  /** Checks every reading's meter against its bound device first (issue #14 A). */
  admitWith(admission: MeterAdmission): void {
    this.admission = admission;
  }

  /** Reports every accepted and refused reading per meter (gateway/observe/meter-status.ts). */
  reportTo(report: IntakeReport): void {
    this.report = report;
  }

  /**
   * The sink of meters that encrypt their own readings (MQTT "sealed"): the ciphertext is checked to be a valid
   * element and re-randomised (multiplied by a fresh encryption of 0), so that what goes upstream cannot be
   * linked to what the meter published locally. Never throws.
   */
  readonly acceptSealed = (reading: SealedReadingIn): void => {
    this.enqueue(reading.meterId, reading.start, () =>
      this.prepare(reading, () => {
        assertCiphertext(this.key, reading.ciphertext);
        return (reading.ciphertext * this.encryptor.encryptZero()) % this.key.n2;
      }),
    );
  };

  /**
   * Moves the held readings that the gateway's clock has now reached into the buffer (through the same checks
   * as any reading). Runs on every tick, before the aggregation. Returns how many were released.
   */
  releaseHeld(limit = 1000): number {
    const due = this.buffer.held.due(this.clock.now() + FUTURE_TOLERANCE_MS, limit);
    for (const h of due) {
      const slot = { meterId: h.meterId, start: h.intervalStart, end: h.intervalEnd };
      const ciphertext = fromBytes(h.ciphertext);
      this.enqueue(h.meterId, h.intervalStart, () => this.prepare(slot, () => ciphertext), true);
    }
    if (due.length > 0) this.metrics.inc('readings.held_released', due.length);
    if (this.holding && due.length < limit && this.buffer.held.summary().count === 0) {
      this.holding = false;
      this.log.info("the gateway's clock has caught up with the meters: every held reading released");
    }
    return due.length;
  }

  private enqueue(
    meterId: string,
    start: number,
    prepare: () => Prepared,
    held = false,
    sealed?: { deliver?: (() => void) | undefined },
  ) {
    const accepted = performance.now();
    try {
      const prepared = prepare();
      // Held (written to held_readings): accepted, so its sealed copies go now.
      if (!prepared) return void sealed?.deliver?.();
      const { item, billedLate } = prepared;
      if (held) item.held = true;
      this.queue.push({ item, deliver: sealed?.deliver, meterId, start, accepted, billedLate });
      // Bound the wait of the first queued reading when a driver hands over a long burst.
      if (performance.now() - this.queue[0]!.accepted >= MAX_QUEUE_MS) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    } catch (error) {
      if (held) this.dropHeld(meterId, start);
      this.reject(meterId, start, error);
    }
  }

  /** A held reading refused at its release is not kept (it would be refused again at every tick). */
  private dropHeld(meterId: string, start: number): void {
    try {
      this.buffer.held.delete(meterId, start);
    } catch {
      // The database refuses writes (disk full): the row stays held and is tried again on the next tick.
    }
  }

  /** Commits every queued ciphertext in one transaction. Runs after each turn and before every aggregation. */
  flush(): void {
    this.flushScheduled = false;
    const batch = [...this.unstored, ...this.queue];
    if (batch.length === 0) return;
    this.queue = [];
    this.unstored = [];
    let results: ReturnType<BufferStore['storeReadings']>;
    try {
      results = this.buffer.storeReadings(batch.map((q) => q.item));
    } catch (error) {
      if (isStorageFailure(error)) return this.keepUnstored(batch, error);
      // Held readings stay held (their rows were not deleted): they are released again on the next tick.
      for (const q of batch) this.reject(q.meterId, q.start, error);
      return;
    }
    this.storage?.succeeded();
    this.dropping = false;
    const committed = performance.now();
    results.forEach((outcome, i) => {
      const q = batch[i]!;
      if (outcome instanceof Error) {
        if (q.item.held) this.dropHeld(q.meterId, q.start);
        return this.reject(q.meterId, q.start, outcome);
      }
      // From the driver handing the reading over to its ciphertext committed in SQLite.
      this.metrics.observe('intake.latency_ms', committed - q.accepted);
      this.metrics.inc('readings.accepted');
      this.report?.accepted(q.meterId, q.start);
      q.deliver?.();
      if (outcome.aggregation !== 'stored') this.metrics.inc(`readings.${outcome.aggregation}`);
      if (outcome.billedLate || q.billedLate) this.metrics.inc('readings.billed_late');
    });
  }

  /**
   * Keeps the ciphertexts of a commit the storage refused, in order, for the next flush; drops the oldest past
   * the bound (counted as rejected under the storage's code). Held readings are still in held_readings and are
   * released again on a later tick, so they are not kept twice.
   */
  private keepUnstored(batch: Queued[], error: unknown): void {
    this.storage?.failed(error);
    const kept = batch.filter((q) => !q.item.held);
    const fresh = kept.filter((q) => !q.waited);
    for (const q of fresh) q.waited = true;
    this.metrics.inc('readings.unstored', fresh.length);
    const dropped = kept.splice(0, Math.max(0, kept.length - (this.opts.maxUnstoredReadings ?? 0)));
    this.unstored = kept;
    if (dropped.length === 0) return;
    const code = errorCode(error);
    this.metrics.inc(`readings.rejected.${code}`, dropped.length);
    for (const q of dropped) this.report?.rejected(q.meterId, code);
    // Once per episode at warn (a drop per commit follows while it lasts); the counter has them all.
    const first = !this.dropping;
    this.dropping = true;
    this.log[first ? 'warn' : 'debug'](
      { code, dropped: dropped.length, oldestDropped: safeIso(dropped[0]!.start), unstored: kept.length },
      'buffer.maxUnstoredReadings reached while the buffer refuses writes: oldest readings dropped',
    );
  }

  private reject(meterId: string, start: number, error: unknown): void {
    const code = errorCode(error);
    this.metrics.inc(`readings.rejected.${code}`);
    this.report?.rejected(meterId, code);
    // A meter refused for its device is logged once by the guard, not once per reading.
    if (this.admission?.isLogged(error)) return;
    this.log.warn(
      { meter: meterId, intervalStart: safeIso(start), code, reason: (error as Error).message },
      'reading rejected',
    );
  }
  /** Last accepted interval start of a meter, for drivers that resume (e.g. replay after a restart). */
  cursor(meterId: string): number | undefined {
    return this.buffer.readings.cursor(meterId);
  }

  private hold(reading: ReadingSlot, ciphertext: bigint, now: number): void {
    const aheadMs = reading.end - now;
    if (aheadMs > this.opts.maxReadingAgeMs) {
      throw new GatewayError(
        'READING_FROM_FUTURE',
        `reading ends ${Math.round(aheadMs / 3_600_000)} h after the gateway's clock, more than ` +
          "buffer.maxReadingAgeDays: the meter's clock or the gateway's is wrong",
      );
    }
    const { count } = this.buffer.held.summary();
    if (count >= this.opts.maxHeldReadings) {
      throw new GatewayError(
        'READING_HOLD_FULL',
        `${count} readings already held for the gateway's clock to catch up (buffer.maxPendingReadings)`,
      );
    }
    const held = this.buffer.held.hold(
      {
        meterId: reading.meterId,
        intervalStart: reading.start,
        intervalEnd: reading.end,
        ciphertext: toBytes(ciphertext),
      },
      now,
    );
    if (!held) {
      throw new GatewayError('READING_DUPLICATE', `meter ${reading.meterId}: interval already held`);
    }
    this.metrics.inc('readings.held');
    if (!this.holding) {
      this.holding = true;
      this.log.warn(
        { meter: reading.meterId, aheadMinutes: Math.round(aheadMs / 60_000) },
        "readings end after the gateway's clock: holding their ciphertexts until it catches up " +
          '(is NTP running? timedatectl status)',
      );
    }
  }

  /** Bounds of a plaintext reading, then its encryption; the plaintext is not referenced after this. */
  private encryptPlain(reading: Reading, band: number): bigint {
    const { maxWhPerReading } = this.opts;
    if (!Number.isSafeInteger(reading.wh) || reading.wh < 0 || reading.wh > maxWhPerReading) {
      throw new GatewayError(
        'READING_OUT_OF_BOUNDS',
        `reading is not a whole number of Wh within 0..encryption.maxWhPerReading (${maxWhPerReading})`,
      );
    }
    return this.encryptor.encrypt(reading, band);
  }

  /**
   * Validates what every reading must satisfy (meter, interval, clock, age, order), then gets its ciphertext
   * (given the interval's tariff band, looked up once); holds a reading from ahead of the gateway's clock
   * (returns undefined).
   */
  private prepare(reading: ReadingSlot, ciphertextOf: (band: number) => bigint): Prepared {
    const meter = this.meters.get(reading.meterId);
    if (!meter)
      throw new GatewayError('READING_UNKNOWN_METER', `no meter "${reading.meterId}" in the config`);
    this.admission?.admit(meter);
    const { intervalMs, maxReadingAgeMs } = this.opts;
    if (
      !Number.isSafeInteger(reading.start) ||
      reading.end - reading.start !== intervalMs ||
      reading.start % intervalMs !== 0
    ) {
      throw new GatewayError(
        'READING_BAD_INTERVAL',
        `reading does not cover exactly one ${intervalMs / 60_000}-minute interval`,
      );
    }
    const band = this.opts.bandOf(reading.start);
    const now = this.clock.now();
    if (reading.end > now + FUTURE_TOLERANCE_MS) {
      this.hold(reading, ciphertextOf(band), now);
      return undefined;
    }
    if (reading.start < now - maxReadingAgeMs) {
      throw new GatewayError('READING_TOO_OLD', 'reading older than buffer.maxReadingAgeDays');
    }
    const cursor = this.buffer.readings.cursor(meter.id);
    if (cursor !== undefined && reading.start <= cursor) {
      // Checked again inside the store's transaction; here it spares the encryption of a duplicate.
      throw new GatewayError(
        'READING_DUPLICATE',
        `meter ${meter.id}: interval not after the last accepted one`,
      );
    }
    const ciphertext = ciphertextOf(band);
    const own = this.opts.billingPeriodOf(reading.start);
    const current = this.opts.billingPeriodOf(now);
    const ownClosed = own.end + this.opts.billingGraceMs <= (this.opts.billedThrough?.() ?? now);
    return {
      item: {
        meterId: meter.id,
        neighbourhood: meter.neighbourhood,
        account: meter.account,
        intervalStart: reading.start,
        band,
        ciphertext,
        // Once its period's bill is due (or sent), a reading can only be billed in the current period.
        period: ownClosed ? current : own,
        currentPeriod: current,
      },
      billedLate: ownClosed,
    };
  }
}

function safeIso(epochMs: number): string | undefined {
  try {
    return isoUtc(epochMs);
  } catch {
    return undefined;
  }
}
