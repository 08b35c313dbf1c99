/**
 * The SQLite buffer: ciphertexts and bookkeeping only. Each public method is one transaction, so a crash leaves
 * either all of an operation or none of it. Policy when full (docs/buffer.md):
 * - more than `maxPendingReadings` readings awaiting aggregation: a new reading is still folded into its bill but
 *   not kept for aggregation (counted `buffer.reading_not_aggregated`);
 * - more than `maxOutboxRecords` unacknowledged records: the oldest unbatched aggregates/suppressions are dropped
 *   (counted `buffer.outbox_dropped`); bills are never dropped.
 */
import { GatewayError } from '../errors.ts';
import { fromBytes, toBytes } from '../encrypt/bigint.ts';
import type { Metrics } from '../observe/metrics.ts';
import { isStorageFailure } from '../observe/storage-status.ts';
import { BillingStore, type BillingPeriodRow, type RevealMode } from './billing-store.ts';
import { CorruptionWatch } from './corruption.ts';
import { openDatabase, type Db, type OpenOptions } from './database.ts';
import { CustomerStore } from '../customer/customer-store.ts';
import { HistoryStore } from '../customer/history-store.ts';
import { DeviceStore } from './device-store.ts';
import { HeldStore } from './held-store.ts';
import { OutboxStore, type OutboxRecord, type StoredBatch } from './outbox-store.ts';
import { PendingBillsStore, type PendingBill } from './pending-bills-store.ts';
import { ReadingsStore, type Group } from './readings-store.ts';
import { HIGH_WATER_KEY, StateStore } from './state-store.ts';
import { WithheldBillsStore, type WithheldPeriod } from './withheld-bills-store.ts';

export interface BufferLimits {
  maxPendingReadings: number;
  maxOutboxRecords: number;
}

export interface Period {
  start: number;
  end: number;
}

export interface EncryptedReading {
  meterId: string;
  neighbourhood: string;
  account: string;
  intervalStart: number;
  /** The tariff band of the interval (index in billing.bands): a cost-only period keeps a total per band. */
  band: number;
  ciphertext: bigint;
  /** The billing period of the interval. */
  period: Period;
  /** The billing period open now: where a reading of an already closed period is billed. */
  currentPeriod: Period;
  /** Released from `held_readings`: its held row is deleted in the same transaction. */
  held?: boolean;
}

export interface StoreOutcome {
  /** stored: awaits aggregation; late: its group was already decided; full: buffer full, billed only. */
  aggregation: 'stored' | 'late' | 'full';
  /** True when its own billing period had closed and it was billed in the current one. */
  billedLate: boolean;
}

/** What one folding chunk adds to one account's period. */
interface Fold {
  first: PendingBill;
  current: BillingPeriodRow | undefined;
  reveal: RevealMode;
  /** Products of the chunk's ciphertexts: by band (cost-only), or the one total under -1 (bands). */
  products: Map<number, bigint>;
  count: number;
}

export class BufferStore {
  readonly readings: ReadingsStore;
  readonly billing: BillingStore;
  readonly pendingBills: PendingBillsStore;
  readonly held: HeldStore;
  readonly customers: CustomerStore;
  readonly history: HistoryStore;
  readonly outbox: OutboxStore;
  readonly state: StateStore;
  readonly devices: DeviceStore;
  readonly withheld: WithheldBillsStore;
  /** Whether a statement found the file corrupt: then nothing more is deleted from it (issue #20). */
  readonly corruption = new CorruptionWatch();

  constructor(
    readonly db: Db,
    private readonly n2: bigint,
    private readonly limits: BufferLimits,
    private readonly metrics: Metrics,
  ) {
    this.readings = new ReadingsStore(db);
    this.billing = new BillingStore(db);
    this.pendingBills = new PendingBillsStore(db);
    this.held = new HeldStore(db);
    this.customers = new CustomerStore(db);
    this.history = new HistoryStore(db);
    this.outbox = new OutboxStore(db);
    this.state = new StateStore(db);
    this.devices = new DeviceStore(db);
    this.withheld = new WithheldBillsStore(db);
  }

  static open(
    file: string,
    opts: OpenOptions,
    n2: bigint,
    limits: BufferLimits,
    metrics: Metrics,
  ): BufferStore {
    return new BufferStore(openDatabase(file, opts), n2, limits, metrics);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Stores one encrypted reading for aggregation and for its bill; refuses duplicates. */
  storeReading(r: EncryptedReading): StoreOutcome {
    const [outcome] = this.storeReadings([r]);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  }

  /**
   * Stores several readings in one transaction, i.e. one WAL commit (group commit: far fewer page writes on the
   * SD card than a transaction per reading). Each reading is its own savepoint, so a refused one (a duplicate,
   * say) is returned as its error and does not affect the others. Throws only if the transaction as a whole
   * fails (disk full, read-only file system), in which case nothing of it was stored: a storage failure inside a
   * savepoint fails the whole transaction too (SQLite may have rolled it back already).
   */
  storeReadings(list: readonly EncryptedReading[]): (StoreOutcome | Error)[] {
    let stored = 0;
    const results = this.corruption.guard(() =>
      this.db.transaction(() =>
        list.map((r) => {
          try {
            const outcome = this.storeOne(r, stored);
            if (outcome.aggregation === 'stored') stored++;
            return outcome;
          } catch (error) {
            // A corrupt page refuses this reading only; noted, so that the health says so.
            this.corruption.note(error);
            if (isStorageFailure(error)) throw error;
            return error instanceof Error ? error : new Error(String(error));
          }
        }),
      )(),
    );
    this.readings.noteInserted(stored);
    return results;
  }

  /** One reading, as a savepoint inside `storeReadings`; `batchStored` counts inserts not yet committed. */
  private storeOne(r: EncryptedReading, batchStored: number): StoreOutcome {
    return this.db.transaction((): StoreOutcome => {
      const cursor = this.readings.cursor(r.meterId);
      if (cursor !== undefined && r.intervalStart <= cursor) {
        throw new GatewayError(
          'READING_DUPLICATE',
          `meter ${r.meterId}: interval not after the last accepted one`,
        );
      }
      const group = { neighbourhood: r.neighbourhood, intervalStart: r.intervalStart };
      let aggregation: StoreOutcome['aggregation'] = 'stored';
      if (this.readings.isDecided(group)) aggregation = 'late';
      else if (this.readings.pendingCount() + batchStored >= this.limits.maxPendingReadings)
        aggregation = 'full';
      else this.readings.insert(r.meterId, r.neighbourhood, r.intervalStart, toBytes(r.ciphertext));

      let period = r.period;
      const billedLate = this.billing.isClosed(r.account, period.start);
      if (billedLate) {
        period = r.currentPeriod;
        if (this.billing.isClosed(r.account, period.start))
          throw new GatewayError('READING_TOO_OLD', 'current billing period already closed');
      }
      if (this.withheld.has(r.account, period.start)) {
        // Its account lost a meter to a removal in this period: the period is never billed (issue #14).
        this.metrics.inc('readings.bill_withheld');
        this.readings.setCursor(r.meterId, r.intervalStart);
        if (r.held) this.held.delete(r.meterId, r.intervalStart);
        return { aggregation, billedLate };
      }
      this.pendingBills.append({
        account: r.account,
        periodStart: period.start,
        periodEnd: period.end,
        band: r.band,
        ciphertext: toBytes(r.ciphertext),
      });
      this.readings.setCursor(r.meterId, r.intervalStart);
      if (r.held) this.held.delete(r.meterId, r.intervalStart);
      return { aggregation, billedLate };
    })();
  }

  /**
   * Folds every pending bill ciphertext into its account's running total for the period, a chunk per
   * transaction: each total is read and rewritten once per chunk however many readings it gains. A period not
   * opened yet is opened in `reveal` mode and keeps it (a "cost-only" period keeps a total per band). Returns
   * how many were folded.
   */
  foldBills(reveal: RevealMode = 'bands', chunk = 1024): number {
    let folded = 0;
    for (;;) {
      const rows = this.pendingBills.first(chunk);
      if (rows.length === 0) break;
      this.db.transaction(() => {
        const folds = new Map<string, Fold>();
        for (const row of rows) {
          const key = `${row.account}\u0000${row.periodStart}`;
          let fold = folds.get(key);
          if (!fold) {
            fold = this.openFold(row, reveal);
            folds.set(key, fold);
          }
          const c = fromBytes(row.ciphertext);
          // A "bands" period multiplies everything into one total (slot -1); a "cost-only" one per band.
          const slot = fold.reveal === 'bands' ? -1 : this.bandOf(row);
          const product = fold.products.get(slot);
          fold.products.set(slot, product === undefined ? c : (product * c) % this.n2);
          fold.count++;
        }
        for (const fold of folds.values()) this.addToBill(fold);
        this.pendingBills.clear(rows.at(-1)!.id);
      })();
      folded += rows.length;
    }
    this.pendingBills.noteFolded();
    return folded;
  }

  /** The period's current row and its mode; a period opened by a reading queued before schema 7 stays "bands". */
  private openFold(first: PendingBill, reveal: RevealMode): Fold {
    const current = this.billing.get(first.account, first.periodStart);
    const mode = current?.reveal ?? (first.band === null ? 'bands' : reveal);
    return { first, current, reveal: mode, products: new Map(), count: 0 };
  }

  private bandOf(row: PendingBill): number {
    // Readings without a band were all queued before any cost-only period could be opened, and are folded first.
    if (row.band === null)
      throw new GatewayError(
        'STORAGE_FAILED',
        'a reading without a tariff band queued for a cost-only period',
      );
    return row.band;
  }

  private addToBill({ first, current, reveal, products, count }: Fold): void {
    if (current?.closed) {
      // Cannot happen while the closer folds before it closes (both run on the tick); counted if it does.
      this.metrics.inc('billing.folded_after_close', count);
      return;
    }
    const multiply = (total: Buffer | null | undefined, product: bigint) =>
      toBytes(total ? (fromBytes(total) * product) % this.n2 : product);
    const { account, periodStart } = first;
    const intervals = (current?.intervals ?? 0) + count;
    const row = { account, periodStart, periodEnd: first.periodEnd, reveal, intervals };
    if (reveal === 'bands') {
      this.billing.put({ ...row, ciphertext: multiply(current?.ciphertext, products.get(-1)!) });
      return;
    }
    this.billing.put({ ...row, ciphertext: null });
    const totals = new Map(this.billing.bands(account, periodStart).map((t) => [t.band, t.ciphertext]));
    for (const [band, product] of products) {
      this.billing.putBand(account, periodStart, { band, ciphertext: multiply(totals.get(band), product) });
    }
  }

  /**
   * Withholds every open billing period of `accounts` (those that lost a meter to a removal, issue #14): the
   * pending ciphertexts are folded first (periods not opened yet are opened in `reveal` mode, as the closer would;
   * folding changes no total's content, and it commits on its own so that its in-memory bounds stay right), then
   * in one transaction, with no other code run in between, those accounts' open totals are deleted and the
   * periods recorded as withheld, so that no later reading is billed into them. Returns the periods withheld now
   * (counted `bills.withheld`).
   */
  withholdOpenBills(
    accounts: readonly string[],
    reveal: RevealMode,
    now: number,
    reason: string,
  ): WithheldPeriod[] {
    if (accounts.length === 0) return [];
    this.foldBills(reveal);
    const withheld = this.db.transaction(() => {
      const periods: WithheldPeriod[] = [];
      for (const account of new Set(accounts)) {
        for (const periodStart of this.billing.openPeriods(account)) {
          this.billing.delete(account, periodStart);
          if (this.withheld.add({ account, periodStart }, now, reason))
            periods.push({ account, periodStart });
        }
      }
      return periods;
    })();
    this.withheld.noteCommitted(withheld);
    this.metrics.inc('bills.withheld', withheld.length);
    return withheld;
  }

  /** Open billing periods that ended at or before `maxEnd`, with every pending reading folded in. */
  billsDue(maxEnd: number, reveal: RevealMode = 'bands'): BillingPeriodRow[] {
    if (this.pendingBills.earliestPeriodEnd <= maxEnd) this.foldBills(reveal);
    return this.billing.due(maxEnd);
  }

  /** Records the decision about a group and queues its record, atomically. */
  decideGroup(group: Group, outcome: 'released' | 'suppressed', record: OutboxRecord): void {
    this.db.transaction(() => {
      this.readings.decide(group, outcome, record.createdAt);
      this.outbox.add(record);
      this.state.raise(HIGH_WATER_KEY, record.createdAt);
    })();
  }

  /** Closes a billing period and queues its bill, atomically. */
  closePeriod(row: BillingPeriodRow, record: OutboxRecord): void {
    this.db.transaction(() => {
      this.billing.close(row.account, row.periodStart);
      this.outbox.add(record);
      this.state.raise(HIGH_WATER_KEY, record.createdAt);
    })();
  }

  /**
   * Takes up to `limit` unbatched records and turns them into one stored batch built by `build` (which signs it).
   * Returns undefined when there is nothing to send.
   */
  createBatch(
    limit: number,
    now: number,
    build: (seq: number, records: OutboxRecord[]) => { batchId: string; message: string; bodyDigest: string },
  ): StoredBatch | undefined {
    return this.db.transaction((): StoredBatch | undefined => {
      const records = this.outbox.unbatched(limit);
      if (records.length === 0) return undefined;
      const seq = this.state.next('batch.seq');
      const built = build(seq, records);
      const batch = { ...built, seq, nextAttemptAt: now };
      this.outbox.insertBatch(batch, now);
      for (const r of records) this.outbox.assign(r.recordId, built.batchId);
      return { ...batch, attempts: 0, rebuilds: 0 };
    })();
  }

  /**
   * Applies an acknowledgement: deletes the batch, its records, the readings of its groups and its billing
   * periods (invariants 5 and 6). Returns what happened, for counting.
   */
  ackBatch(batchId: string, bodyDigest: string): 'acked' | 'unknown' | 'digest-mismatch' {
    this.corruption.assertMayDelete('acknowledgement');
    return this.corruption.guard(() => this.applyAck(batchId, bodyDigest));
  }

  private applyAck(batchId: string, bodyDigest: string): 'acked' | 'unknown' | 'digest-mismatch' {
    return this.db.transaction(() => {
      const batch = this.outbox.batch(batchId);
      if (!batch) return 'unknown';
      if (batch.bodyDigest !== bodyDigest) return 'digest-mismatch';
      for (const record of this.outbox.recordsOf(batchId)) this.forget(record);
      this.outbox.deleteBatch(batchId);
      return 'acked';
    })();
  }

  /** Applies the outbox limits; returns how many records were dropped (none while the buffer is corrupt). */
  enforceLimits(now: number, maxAgeMs: number): number {
    if (this.corruption.corrupt) return 0;
    return this.db.transaction(() => {
      const { records } = this.outbox.counts();
      const excess = Math.max(0, records - this.limits.maxOutboxRecords);
      let dropped = 0;
      for (const r of this.outbox.droppable(Number.MAX_SAFE_INTEGER, excess)) {
        this.drop(r);
        dropped++;
      }
      for (const r of this.outbox.droppable(now - maxAgeMs, 1000)) {
        this.drop(r);
        dropped++;
      }
      return dropped;
    })();
  }

  private drop(record: OutboxRecord): void {
    this.forget(record);
    this.outbox.deleteRecord(record.recordId);
    this.metrics.inc(`buffer.outbox_dropped.${record.kind}`);
  }

  private forget(record: OutboxRecord): void {
    if (record.group) this.readings.deleteGroup(record.group);
    if (record.period) this.billing.delete(record.period.account, record.period.periodStart);
  }
}
