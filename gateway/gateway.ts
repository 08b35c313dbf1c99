/**
 * The composition root (STYLE.md §1): builds every part from the frozen config, starts them in data-flow order
 * (keys → buffer → encrypt → aggregate → batch → uplink → drivers → schedules) and stops them in reverse.
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import cron, { type ScheduledTask } from 'node-cron';
import { buildDrivers } from '../drivers/build-drivers.ts';
import type { Driver, DriverContext } from '../drivers/driver.ts';
import { Intake } from './acquire/intake.ts';
import { TariffBands } from './acquire/tariff.ts';
import { BillCost, costPlan, type CostPlan } from './aggregate/bill-cost.ts';
import { BillingCloser } from './aggregate/billing-closer.ts';
import { NeighbourhoodAggregator } from './aggregate/neighbourhood-aggregator.ts';
import { noisePlan, type NoisePlan } from './aggregate/noise-plan.ts';
import { Batcher } from './batch/batcher.ts';
import { BufferStore } from './buffer/buffer.ts';
import { DataDirLock } from './buffer/data-dir-lock.ts';
import { MarkerKeeper } from './buffer/marker-keeper.ts';
import type { RevealMode } from './buffer/billing-store.ts';
import { HIGH_WATER_KEY } from './buffer/state-store.ts';
import { PRICE_DECIMALS, type Config, type MeterConfig } from './config/schema.ts';
import { ConsentLog } from './customer/consent-log.ts';
import { Consents } from './customer/consents.ts';
import { CustomerService } from './customer/customer-service.ts';
import { SharedStore } from './customer/shared-store.ts';
import { SharedStream } from './customer/shared-stream.ts';
import { loadEnrolmentCodes, type EnrolmentCodes } from './customer/enrolment-codes.ts';
import { errorCode, GatewayError } from './errors.ts';
import { startEngine, type EngineHandle } from './encrypt/engine-factory.ts';
import { checkExponentBits } from './encrypt/randomizers.ts';
import { layoutFor, type PackingLayout } from './encrypt/packing.ts';
import { ReadingEncryptor } from './encrypt/reading-encryptor.ts';
import { fingerprint, loadPrivateKey, loadPublicKey } from './keys/files.ts';
import { loadPaillierPublic } from './keys/paillier-files.ts';
import { Health } from './observe/health.ts';
import { HealthPublisher } from './observe/health-publisher.ts';
import type { Logger } from './observe/log.ts';
import { ComponentLoggers } from './observe/log-levels.ts';
import { MeterStatus } from './observe/meter-status.ts';
import { Metrics } from './observe/metrics.ts';
import { metricsAddress, MetricsServer } from './observe/metrics-server.ts';
import { isStorageFailure, StorageStatus } from './observe/storage-status.ts';
import { renderPrometheus } from './observe/prometheus.ts';
import { topics } from './protocol/topics.ts';
import { monotonicClock, systemClock, VirtualClock, type Clock } from './time/clock.ts';
import { EARLIEST_PLAUSIBLE, SteadyClock } from './time/steady-clock.ts';
import { billingPeriodOf, maxPeriodDays } from './time/periods.ts';
import { mqttOptions } from './uplink/mqtt-options.ts';
import { guardedConnect, inboundTooLarge } from './uplink/packet-size-guard.ts';
import { Uplink, type MqttConnect } from './uplink/uplink.ts';
import { BatchRepair } from './batch/batch-repair.ts';
import { removeStaleTemps } from './remote/atomic-file.ts';
import { LiveConfig } from './remote/live-config.ts';
import { assertBindings } from './devices/binding-rules.ts';
import { MeterGuard } from './devices/meter-guard.ts';
import { removeEnrolmentCodes } from './customer/enrolment-codes.ts';
import { realpathOrSelf } from './devices/source-keys.ts';
import { OperatorService } from './remote/operator-service.ts';
import { LocalReload } from './remote/local-reload.ts';

const DAY_MS = 86_400_000;

/**
 * The enrolment-code hashes, when configured, read afresh at each request; a configured file not made yet means
 * no codes yet. Checked once at start, so that a file that is invalid or readable by others stops the gateway.
 */
function codesLoader(file: string | undefined, log: Logger): () => EnrolmentCodes | undefined {
  if (!file) return () => undefined;
  // Re-read only when the file changed (it is consulted on every tick).
  let cached: { mtimeMs: number; codes: EnrolmentCodes } | undefined;
  const load = (): EnrolmentCodes => {
    if (!existsSync(file)) return new Map<string, string>();
    const mtimeMs = statSync(file).mtimeMs;
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, codes: loadEnrolmentCodes(file) };
    return cached.codes;
  };
  if (!existsSync(file))
    log.warn({ file }, 'no enrolment codes yet: households cannot enrol (scripts/keygen enrolment-code)');
  load();
  return load;
}
const TICK_MS = 1_000;
const STATUS_EVERY_MS = 60_000;
/** Fold queued bill ciphertexts into their totals at least once per interval, or once this many are queued. */
const BILLS_FOLD_AT = 4096;

export interface GatewayDeps {
  config: Readonly<Config>;
  log: Logger;
  /** Calendar time, for timestamps in messages and requests' sequence numbers (injected in tests). */
  wall?: Clock;
  /** Elapsed time that NTP cannot step (monotonic), for back-off, ages and uptime (injected in tests). */
  elapsed?: Clock;
  connect?: MqttConnect;
  /** Overrides the configured data clock (the benchmark drives a ManualClock). */
  clock?: Clock;
  /**
   * The earliest plausible data time: before it the data clock stands still (default: EARLIEST_PLAUSIBLE for the
   * system clock, none for a virtual or injected one).
   */
  notBefore?: number;
  /** The file the configuration was read from: remote configuration writes it (off without it). */
  configFile?: string;
  /**
   * No timers, no schedule, no driver polling: the caller drives the pipeline with `pollDrivers()` and
   * `runOnce()` (the benchmark runs the real pipeline as fast as the CPU allows this way).
   */
  manual?: boolean;
  /** `--accept-data-loss`: start on a buffer behind its marker, logging and recording the loss (issue #20). */
  acceptDataLoss?: boolean;
}

/** The most readings one bill can hold: its period's intervals plus late ones, for every meter of the account. */
function billAddends(config: Readonly<Config>): number {
  const perDay = 1440 / config.intervals.minutes;
  const metersPerAccount = new Map<string, number>();
  for (const m of config.meters) metersPerAccount.set(m.account, (metersPerAccount.get(m.account) ?? 0) + 1);
  const maxMetersPerAccount = Math.max(...metersPerAccount.values());
  // A bill holds its period's intervals plus late readings from as far back as the buffer accepts.
  return (
    maxMetersPerAccount *
    perDay *
    // +1 day: a period containing a daylight-saving fall-back is an hour longer than its days.
    (maxPeriodDays(config.billing.period) + 1 + Math.ceil(config.buffer.maxReadingAgeDays))
  );
}

/** The noise of every neighbourhood release; refuses (CONFIG_INVALID) a budget it cannot honour. */
export function releaseNoise(config: Readonly<Config>): NoisePlan {
  return noisePlan({ ...config.privacy.noise, intervalMinutes: config.intervals.minutes });
}

/**
 * Sizes the packed slots and the release field so that no neighbourhood sum, no noise and no bill can overflow
 * (docs/privacy.md §Overflow).
 */
export function packingLayout(config: Readonly<Config>, modulusBits: number): PackingLayout {
  return layoutFor({
    maxWhPerReading: config.encryption.maxWhPerReading,
    maxAddends: Math.max(config.encryption.maxMetersPerNeighbourhood, billAddends(config)),
    bands: config.billing.bands.map((b) => b.name),
    modulusBits,
    clipWh: config.privacy.noise.clipWh,
    maxMetersPerRelease: config.encryption.maxMetersPerNeighbourhood,
    noiseBound: releaseNoise(config).bound,
  });
}

/**
 * How cost-only bills are priced (docs/protocol.md §5), when every band has a price; undefined otherwise.
 * Refuses (PACKING_OVERFLOW) prices and bounds whose cost and mask do not fit the modulus.
 */
export function billCostPlan(
  config: Readonly<Config>,
  layout: PackingLayout,
  modulusBits: number,
): CostPlan | undefined {
  const prices = config.billing.bands.map((b) => b.price);
  if (prices.some((p) => p === undefined)) return undefined;
  return costPlan({
    slotBits: layout.slotBits,
    // Exact: the schema allows at most PRICE_DECIMALS decimals.
    prices: prices.map((p) => BigInt(Math.round(p! * 10 ** PRICE_DECIMALS))),
    maxBillWh: BigInt(config.encryption.maxWhPerReading) * BigInt(billAddends(config)),
    modulusBits,
    releaseShift: layout.releaseShift,
    maxBillClippedWh: BigInt(config.privacy.noise.clipWh) * BigInt(billAddends(config)),
  });
}

export class Gateway {
  readonly metrics = new Metrics();
  private readonly log: Logger;
  /** Every component's logger, so that new levels reach them all (remote configuration). */
  private readonly loggers: ComponentLoggers;
  private buffer: BufferStore | undefined;
  private engine: EngineHandle | undefined;
  private intake: Intake | undefined;
  private uplink: Uplink | undefined;
  private customers: CustomerService | undefined;
  private live: LiveConfig | undefined;
  private operator: OperatorService | undefined;
  private reloader: LocalReload | undefined;
  private reloading: Promise<unknown> = Promise.resolve();
  private metricsServer: MetricsServer | undefined;
  private storage: StorageStatus | undefined;
  private lock: DataDirLock | undefined;
  private marker: MarkerKeeper | undefined;
  private drivers: Driver[] = [];
  private timers: NodeJS.Timeout[] = [];
  private task: ScheduledTask | undefined;
  private tick: (() => void) | undefined;
  private flush: (() => void) | undefined;
  private persistMark: ((force: boolean) => void) | undefined;
  clock: Clock = systemClock;

  constructor(private readonly deps: GatewayDeps) {
    this.loggers = new ComponentLoggers(deps.log, deps.config.gateway);
    this.log = this.loggers.child('gateway');
  }

  async start(): Promise<void> {
    const { config, log } = this.deps;
    const wall = this.deps.wall ?? systemClock;
    const elapsed = this.deps.elapsed ?? monotonicClock;
    const metrics = this.metrics;
    const child = this.loggers.child.bind(this.loggers);
    const intervalMs = config.intervals.minutes * 60_000;

    this.log.info({ gateway: config.gateway.id }, 'starting');
    if (this.deps.configFile) {
      const removed = removeStaleTemps(this.deps.configFile);
      if (removed.length > 0)
        this.log.warn({ removed }, 'removed what an interrupted configuration write left');
    }
    const supplierKey = loadPaillierPublic(config.keys.supplierPublic);
    // Before anything is created: a configured exponent weaker than the key refuses the start (issue #14 C).
    checkExponentBits(config.encryption.exponentBits, supplierKey.bits);
    const gatewayKey = loadPrivateKey(config.keys.gatewayPrivate, 'ed25519', 'gateway private key');
    const identity = { privateKey: gatewayKey, publicKey: createPublicKey(gatewayKey) };
    const mdmsKey = loadPublicKey(config.keys.mdmsPublic, 'ed25519', 'MDMS public key');
    const layout = packingLayout(config, supplierKey.bits);
    const pricing = billCostPlan(config, layout, supplierKey.bits);
    this.log.info(
      {
        paillierBits: supplierKey.bits,
        slotBits: layout.slotBits,
        slots: layout.slots,
        releaseShift: layout.releaseShift,
        clipWh: layout.clipWh,
        reveal: config.billing.reveal,
        costBits: pricing?.costBits,
        gatewayFingerprint: fingerprint(identity.publicKey),
      },
      'keys loaded',
    );

    const buffer = BufferStore.open(
      path.join(config.gateway.dataDir, config.buffer.file),
      {
        synchronous: config.buffer.synchronous,
        walCheckpointPages: config.buffer.walCheckpointPages,
        onLoosePaths: (paths) =>
          this.log.warn({ paths }, 'buffer files were group- or world-accessible: tightened to 0700/0600'),
      },
      supplierKey.n2,
      config.buffer,
      metrics,
    );
    this.buffer = buffer;
    // One gateway per data directory, before anything reads the buffer (issue #20; buffer/data-dir-lock.ts).
    this.lock = DataDirLock.acquire(config.gateway.dataDir);
    // A buffer behind its marker (lost WAL, emptied or replaced) is refused unless the loss is accepted.
    const marker = new MarkerKeeper(
      {
        dataDir: config.gateway.dataDir,
        file: buffer.db.name,
        acceptDataLoss: this.deps.acceptDataLoss ?? false,
        reveal: config.billing.reveal,
      },
      buffer,
      elapsed,
      wall,
      child('gateway'),
    );
    marker.start();
    this.marker = marker;
    this.log.info({ file: buffer.db.name, pending: buffer.readings.pendingCount() }, 'buffer open');
    // A configuration that re-points a meter bound on this gateway does not start (issue #14 A).
    assertBindings(config, buffer.devices, realpathOrSelf);
    const costOnlyOpen = buffer.billing.openCount('cost-only');
    if (costOnlyOpen > 0 && !pricing) {
      throw new GatewayError(
        'CONFIG_INVALID',
        `${costOnlyOpen} billing period(s) opened with billing.reveal cost-only are still open and are priced ` +
          'when they close: give every band of billing.bands a price until they are released',
      );
    }

    // The data clock never reads before the latest time this gateway acted on, nor before a plausible time.
    const configured = this.deps.clock
      ? { clock: this.deps.clock, startedAt: this.deps.clock.now() }
      : this.dataClock(buffer, wall, elapsed);
    const source = configured.clock;
    const system = !this.deps.clock && config.clock.mode === 'system';
    const notBefore = this.deps.notBefore ?? (system ? EARLIEST_PLAUSIBLE : Number.NEGATIVE_INFINITY);
    const resumeAt = Number(buffer.state.get(HIGH_WATER_KEY) ?? 'NaN');
    const floor = { notBefore, resumeAt: Number.isFinite(resumeAt) ? resumeAt : undefined };
    const clock = new SteadyClock(source, floor, metrics, child('gateway'));
    const startedAt = Math.max(configured.startedAt, notBefore, floor.resumeAt ?? Number.NEGATIVE_INFINITY);
    this.clock = clock;
    // Up to where the billing closer has run: at most the persisted mark (raised with every bill closed).
    let billedThrough = Number.isFinite(resumeAt) ? resumeAt : Number.NEGATIVE_INFINITY;
    /** Persists the data clock's high-water mark (also raised with every decision, in its transaction). */
    let persistedMark = Number.NEGATIVE_INFINITY;
    this.persistMark = (force) => {
      if (!force && clock.highWater < persistedMark + intervalMs) return;
      buffer.state.raise(HIGH_WATER_KEY, clock.highWater);
      persistedMark = clock.highWater;
    };
    const period = (ms: number) => billingPeriodOf(ms, config.billing.period, config.gateway.timezone);
    const bands = new TariffBands(config.billing.bands, config.gateway.timezone);
    const engine = await startEngine(config.encryption, supplierKey);
    this.engine = engine;
    const encryptor = new ReadingEncryptor(engine.engine, layout, bands);
    const maxReadingAgeMs = config.buffer.maxReadingAgeDays * DAY_MS;
    const intake = new Intake(
      {
        meters: config.meters,
        intervalMs,
        maxWhPerReading: config.encryption.maxWhPerReading,
        maxReadingAgeMs,
        billingPeriodOf: period,
        bandOf: (ms) => bands.bandAt(ms),
        billingGraceMs: config.billing.graceMinutes * 60_000,
        billedThrough: () => billedThrough,
        maxHeldReadings: config.buffer.maxPendingReadings,
        maxUnstoredReadings: config.buffer.maxUnstoredReadings,
      },
      supplierKey,
      clock,
      encryptor,
      buffer,
      metrics,
      child('intake'),
    );
    this.intake = intake;
    const guard = new MeterGuard(config, buffer.devices, realpathOrSelf, wall, metrics, child('intake'));
    intake.admitWith(guard);
    const storage = new StorageStatus(
      config.gateway.dataDir,
      wall,
      metrics,
      this.log,
      () => intake.unstoredCount,
    );
    this.storage = storage;
    intake.storageTo(storage);
    buffer.corruption.onCorruption((error) => storage.corrupted(error));
    storage.setDataLossAccepted(marker.lastAcceptedLoss());
    this.log.info(engine.details, 'encryption ready');

    const aggregator = new NeighbourhoodAggregator(
      {
        k: config.privacy.k,
        intervalMs,
        graceMs: config.intervals.graceMinutes * 60_000,
        layout,
        noise: releaseNoise(config),
        maxMetersPerRelease: config.encryption.maxMetersPerNeighbourhood,
      },
      supplierKey,
      (m) => engine.engine.encrypt(m),
      buffer,
      metrics,
      child('aggregate'),
    );
    const closer = new BillingCloser(
      {
        graceMs: config.billing.graceMinutes * 60_000,
        intervalMs,
        foldAt: BILLS_FOLD_AT,
        reveal: config.billing.reveal,
        cost: pricing && new BillCost(pricing, supplierKey, (m) => engine.engine.encrypt(m)),
        encrypt: (m) => engine.engine.encrypt(m),
        n2: supplierKey.n2,
      },
      layout,
      buffer,
      metrics,
      child('billing'),
    );
    const batcher = new Batcher(
      {
        gatewayId: config.gateway.id,
        maxRecordsPerBatch: config.upstream.maxRecordsPerBatch,
        // Half the outbox for signed batches, the rest for the newest records while the MDMS is away.
        maxBatchedRecords: Math.ceil(config.buffer.maxOutboxRecords / 2),
      },
      identity,
      buffer,
      metrics,
      child('batch'),
    );

    const uplink = new Uplink(
      {
        url: config.upstream.url,
        clientOptions: mqttOptions(config.upstream, config.gateway.id),
        prefix: config.upstream.topicPrefix,
        gatewayId: config.gateway.id,
        retryInitialMs: config.upstream.retryInitialSeconds * 1000,
        retryMaxMs: config.upstream.retryMaxSeconds * 1000,
      },
      guardedConnect(this.deps.connect ?? ((url, opts) => mqtt.connect(url, opts)), {
        maxBytes: config.upstream.maxPacketBytes,
        onOversize: inboundTooLarge(metrics, child('uplink')),
      }),
      buffer,
      mdmsKey,
      { elapsed, calendar: wall },
      metrics,
      child('uplink'),
      {
        // Each stored batch is verified before a send, rebuilt or quarantined (docs/buffer.md, issue #20).
        repair: new BatchRepair(
          { gatewayId: config.gateway.id },
          identity,
          buffer,
          wall,
          elapsed,
          metrics,
          child('batch'),
        ),
      },
    );
    this.uplink = uplink;
    const consents = new Consents(
      {
        gatewayId: config.gateway.id,
        prefix: config.upstream.topicPrefix,
        intervalMinutes: config.intervals.minutes,
      },
      new ConsentLog(buffer.db),
    );
    const shared = new SharedStream(
      {
        intervalMs,
        timeZone: config.gateway.timezone,
        graceMs: config.intervals.graceMinutes * 60_000,
        maxReadingAgeMs,
      },
      consents,
      new SharedStore(buffer.db),
      uplink,
      identity,
      metrics,
      child('shared'),
    );
    const customers = new CustomerService(
      {
        gatewayId: config.gateway.id,
        prefix: config.upstream.topicPrefix,
        meters: config.meters.map((m) => m.id),
        historyDays: config.customers.historyDays,
        upstreamOf: (meterId) => {
          const c = this.live?.running() ?? config;
          const meter = c.meters.find((m) => m.id === meterId);
          if (!meter) throw new GatewayError('ENROLMENT_REFUSED', 'this meter is no longer on the gateway');
          return {
            neighbourhood: meter.neighbourhood,
            k: c.privacy.k,
            billingAccount: meter.account,
            billingPeriod: config.billing.period,
            tariffBands: c.billing.bands.map((b) => b.name),
            billReveals: c.billing.reveal,
            intervalMinutes: config.intervals.minutes,
          };
        },
        codes: codesLoader(config.keys.enrolmentCodes, log),
        ledger: {
          codeUsed: (key) => buffer.devices.codeUsed(key),
          markCodeUsed: (key, meter, now) => buffer.devices.markCodeUsed(key, meter, now),
          retired: (meter) => buffer.devices.meter(meter)?.state === 'retired',
          identityOf: (meter) => buffer.devices.identityOf(meter),
          boundMeter: (identity) => buffer.devices.boundMeter(identity),
        },
      },
      buffer.customers,
      buffer.history,
      uplink,
      identity,
      { consents, shared },
      { wall, data: clock },
      metrics,
      child('customer'),
    );
    customers.start();
    this.customers = customers;
    intake.streamTo(customers.live);
    uplink.start();
    // Each meter's status, the health message and the Prometheus endpoint (docs/operations.md).
    const meterStatus = new MeterStatus(
      {
        intervalMs,
        staleIntervals: config.observe.staleIntervals,
        graceMs: config.intervals.graceMinutes * 60_000,
        startedAt,
        cursor: (id) => intake.cursor(id),
      },
      clock,
      config.meters,
    );
    intake.reportTo(meterStatus);
    const health = new Health(
      {
        gatewayId: config.gateway.id,
        periodSeconds: config.observe.healthSeconds,
        dataDir: config.gateway.dataDir,
        limits: config.buffer,
      },
      {
        metrics,
        meters: meterStatus,
        buffer,
        wall,
        elapsed,
        data: clock,
        clock: () => clock.status(),
        storage,
        delivery: uplink.delivery,
      },
    );
    const listen = metricsAddress(config.observe.metrics);
    if (listen) {
      const render = () => renderPrometheus(health.snapshot(), metrics.snapshot());
      this.metricsServer = new MetricsServer(listen, render, metrics, child('metrics'));
      await this.metricsServer.start();
    }

    const driverContext = (meters: Config['meters'], component: string): DriverContext => ({
      meters,
      sink: intake.accept,
      sealedSink: intake.acceptSealed,
      identify: guard.identify,
      unidentified: guard.unidentified,
      clock,
      startedAt,
      intervalMs,
      cursor: (id) => intake.cursor(id),
      metrics,
      report: meterStatus,
      log: child('driver', { driver: component }),
    });
    await this.startDrivers(config, driverContext, layout);

    this.tick = () =>
      this.guard('tick', () => {
        // While writes fail, a small write tells whether they work again (throws if not).
        if (!storage.writable) buffer.state.set('storage.probe', String(wall.now()));
        // Held readings the clock has reached, readings a driver has reached but not yet handed over (after a
        // step of the clock) and readings still queued for their group commit must be in SQLite before their
        // group and their bill are decided.
        intake.releaseHeld();
        if (!this.deps.manual) for (const d of this.drivers) d.catchUp?.();
        intake.flush();
        // Deciding a group while some of its readings wait in memory would leave them out of it for good.
        if (intake.unstoredCount > 0) return;
        const now = clock.now();
        aggregator.run(now);
        closer.run(now);
        billedThrough = now;
        const dropped = buffer.enforceLimits(now, maxReadingAgeMs);
        if (dropped > 0) this.log.warn({ dropped }, 'outbox full or too old: aggregates dropped');
        // Nothing is deleted from a corrupt buffer (a salvage may need what would go).
        const prune = !buffer.corruption.corrupt;
        if (prune) buffer.readings.pruneDecided(now - maxReadingAgeMs - DAY_MS);
        customers.tick(now, prune);
        if (source instanceof VirtualClock) buffer.state.set('clock.virtual_now', String(now));
        this.persistMark?.(false);
        marker.update();
        storage.succeeded();
      });
    this.flush = () =>
      this.guard('flush', () => {
        batcher.flush(elapsed.now(), wall.now());
        // A new batch is in the marker before it is published: its number is never given out again.
        marker.update();
        uplink.sendDue();
      });
    if (this.deps.manual) {
      this.log.info('started in manual mode (no timers)');
      return;
    }
    this.timers.push(setInterval(this.tick, TICK_MS));
    this.timers.push(
      setInterval(() => {
        uplink.publishStatus(true);
        this.log.info({ counters: metrics.snapshot() }, 'status');
      }, STATUS_EVERY_MS),
    );
    if (config.observe.healthSeconds > 0) {
      const topic = topics.health(config.upstream.topicPrefix, config.gateway.id);
      const publisher = new HealthPublisher(topic, health, uplink, identity, metrics, child('health'));
      const every = config.observe.healthSeconds * 1000;
      this.timers.push(setInterval(() => this.guard('health', () => publisher.publish()), every));
      // And at each (re)connection: the backlog of an outage as it stands, before the acknowledgements shrink it.
      uplink.onConnect(() => this.guard('health', () => publisher.publish()));
    }
    const cronLog = child('schedule');
    const schedule = (expression: string) => {
      void this.task?.destroy();
      this.task = cron.schedule(expression, this.flush!, {
        name: 'upload',
        noOverlap: true,
        logger: {
          info: (m) => cronLog.debug(m),
          warn: (m) => cronLog.warn(m),
          error: (m) => cronLog.error(String(m)),
          debug: (m) => cronLog.debug(String(m)),
        },
      });
    };
    schedule(config.upstream.schedule);
    this.live = new LiveConfig(
      config,
      {
        layout,
        layoutOf: (c) => packingLayout(c, supplierKey.bits),
        settle: (c) => {
          intake.setMeters(c.meters);
          guard.reset(c);
          meterStatus.setMeters(c.meters);
          aggregator.setK(c.privacy.k);
          aggregator.setNoise(releaseNoise(c));
          customers.reconfigure({ meters: c.meters.map((m) => m.id), historyDays: c.customers.historyDays });
        },
        stopDrivers: () => this.stopDrivers(),
        startDrivers: (c) => this.startDrivers(c, driverContext, layout),
        reschedule: schedule,
        setLogLevel: (levels) => this.loggers.apply(levels),
        devices: { known: buffer.devices, realpath: realpathOrSelf },
        retire: (meters, nbs) => {
          buffer.devices.retire(meters, nbs, wall.now());
          this.voidCodes(meters.map((m) => m.id));
          // The mode the closer opens periods in (billing changes need a restart).
          this.withholdBills(buffer, meters, config.billing.reveal, wall.now());
        },
        commanded: (meters) =>
          buffer.devices.recordCommanded(
            meters.map((m) => m.id),
            wall.now(),
          ),
      },
      child('config'),
    );
    if (this.deps.configFile) {
      this.reloader = new LocalReload(this.deps.configFile, this.live, metrics, child('config'));
    }
    if (config.keys.operatorPublic && this.deps.configFile) {
      const operator = new OperatorService(
        {
          gatewayId: config.gateway.id,
          prefix: config.upstream.topicPrefix,
          configFile: this.deps.configFile,
        },
        loadPublicKey(config.keys.operatorPublic, 'ed25519', 'operator public key'),
        identity,
        this.live,
        buffer.state,
        uplink,
        wall,
        metrics,
        child('config'),
      );
      operator.start();
      this.operator = operator;
    }
    this.log.info(
      { schedule: config.upstream.schedule, drivers: this.drivers.map((d) => d.name) },
      'started',
    );
  }

  /**
   * Withholds the open bills of every account that lost a meter (issue #14): cut short at the removal, such a
   * bill would give the supplier the removed household's readings since the period began.
   */
  private withholdBills(
    buffer: BufferStore,
    meters: readonly MeterConfig[],
    reveal: RevealMode,
    now: number,
  ): void {
    const accounts = meters.map((m) => m.account);
    const periods = buffer.withholdOpenBills(accounts, reveal, now, 'meter removed');
    for (const p of periods) {
      this.log.warn(
        { account: p.account, periodStart: new Date(p.periodStart).toISOString() },
        'open bill withheld: the account lost a meter to a removal',
      );
    }
  }

  /** Deletes the enrolment codes of retired meters (issue #14: a removed meter's code never enrols again). */
  private voidCodes(meterIds: readonly string[]): void {
    const file = this.deps.config.keys.enrolmentCodes;
    if (!file || meterIds.length === 0) return;
    try {
      const removed = removeEnrolmentCodes(file, meterIds);
      if (removed.length > 0) this.log.info({ meters: removed }, 'enrolment codes of removed meters deleted');
    } catch (error) {
      // The codes stay refused (the buffer records the ids as retired); the file is cleaned at the next removal.
      this.log.error({ code: errorCode(error) }, 'enrolment codes of removed meters could not be deleted');
    }
  }

  async stop(): Promise<void> {
    this.log.info('stopping');
    await this.task?.destroy();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.metricsServer?.stop();
    await this.operator?.idle();
    await this.reloading;
    await this.stopDrivers();
    const unstored = this.intake?.unstoredCount ?? 0;
    if (unstored > 0)
      this.log.warn(
        { unstored },
        'stopping while the buffer refuses writes: readings held in memory are lost',
      );
    this.customers?.flush();
    this.guard('stop', () => this.persistMark?.(true));
    this.guard('stop', () => this.marker?.update(true));
    await this.uplink?.stop();
    await this.engine?.stop();
    this.buffer?.close();
    this.lock?.release();
    this.log.info('stopped');
  }

  /**
   * SIGHUP: reads the configuration file again and applies what it changes (remote/local-reload.ts). Never rejects:
   * a refusal is logged with its code and the running configuration stays.
   */
  reload(): Promise<void> {
    const reloader = this.reloader;
    if (!reloader) {
      this.log.warn('configuration reload ignored: the gateway was started without a configuration file');
      return Promise.resolve();
    }
    const run = reloader.reload().then(() => undefined);
    this.reloading = run;
    return run;
  }

  /** The configuration in effect (remote configuration may have changed it since the start). */
  get config(): Readonly<Config> {
    return this.live?.running() ?? this.deps.config;
  }

  /** Builds and starts the drivers of `config`; if one fails to start, stops those started and throws. */
  private async startDrivers(
    config: Readonly<Config>,
    contextFor: (meters: Config['meters'], component: string) => DriverContext,
    layout: PackingLayout,
  ): Promise<void> {
    const drivers = buildDrivers(config, contextFor, { manual: this.deps.manual ?? false, layout });
    const started: Driver[] = [];
    try {
      for (const driver of drivers) {
        await driver.start();
        started.push(driver);
      }
    } catch (error) {
      for (const driver of started.reverse()) await driver.stop().catch(() => undefined);
      throw error;
    }
    this.drivers = drivers;
  }

  /** Stops every driver and commits what they had read. */
  private async stopDrivers(): Promise<void> {
    for (const driver of [...this.drivers].reverse()) await driver.stop();
    this.drivers = [];
    this.intake?.flush();
  }

  /** Runs aggregation and an upload now, as the timers would (for tools and tests). */
  runOnce(): void {
    this.tick?.();
    this.flush?.();
  }

  /** Lets every driver emit what is due now (manual mode). */
  pollDrivers(): void {
    for (const d of this.drivers) d.poll?.();
  }

  /** The engine's pool statistics and table size, for the benchmark. */
  engineDetails() {
    return { ...this.engine?.details, pool: this.engine?.poolStats() };
  }

  /** Waits until the randomizer pool holds `count` values (benchmark warm-up). */
  warmEngine(count: number): Promise<void> {
    return this.engine?.warm(count) ?? Promise.resolve();
  }

  /** Unacknowledged records and batches (the benchmark waits for zero). */
  outboxCounts() {
    return this.buffer!.outbox.counts();
  }

  /** Drivers that have a natural end (replay) report whether they reached it. */
  get driversFinished(): boolean {
    return this.drivers.every((d) => !('finished' in d) || d.finished === true);
  }

  /**
   * The configured data clock and the data time this run begins at: the system clock, or a virtual one that
   * resumes where it was persisted (running on elapsed time, so that NTP does not step it) or, anchored, reads
   * from the calendar like its emulators.
   */
  private dataClock(buffer: BufferStore, wall: Clock, elapsed: Clock): { clock: Clock; startedAt: number } {
    const c = this.deps.config.clock;
    if (c.mode === 'system') return { clock: wall, startedAt: wall.now() };
    if (c.anchor !== undefined) {
      // An anchored clock is defined by its anchor alone: after a restart it reads what it would have read.
      const clock = new VirtualClock(Date.parse(c.start), c.speed, wall, Date.parse(c.anchor));
      this.log.info({ start: c.start, anchor: c.anchor, speed: c.speed }, 'virtual data clock (anchored)');
      return { clock, startedAt: clock.now() };
    }
    // Where the clock was saved (each tick) or where the gateway last acted (the high-water mark, raised with
    // every decision and bill), whichever is later: a killed gateway may have acted after its last save, and
    // resuming behind the mark would read as a clock stepped back and hold the data clock still meanwhile.
    const saved = [buffer.state.get('clock.virtual_now'), buffer.state.get(HIGH_WATER_KEY)]
      .map((v) => Number(v ?? 'NaN'))
      .filter((v) => Number.isFinite(v));
    const start = Math.max(Date.parse(c.start), ...saved);
    this.log.info({ start: new Date(start).toISOString(), speed: c.speed }, 'virtual data clock');
    return { clock: new VirtualClock(start, c.speed, elapsed), startedAt: start };
  }

  /** The boundary of the periodic work: an error (disk full, say) is counted and logged, and the next run retries. */
  private guard(what: string, work: () => void): void {
    try {
      work();
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`errors.${what}.${code}`);
      // A corrupt page is logged once (with what to do) by the storage status.
      if (this.buffer?.corruption.note(error)) {
        this.log.debug({ code }, `${what} failed on the corrupt buffer`);
        return;
      }
      // A disk full or read-only is logged once per episode by the storage status, not once a second.
      const storage = isStorageFailure(error) ? this.storage : undefined;
      storage?.failed(error);
      this.log[storage ? 'debug' : 'error'](
        { code, reason: (error as Error).message },
        `${what} failed; will retry`,
      );
    }
  }
}
