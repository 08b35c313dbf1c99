/**
 * Disk full and read-only file system under a running gateway process (docs/buffer.md, "When writes fail"), on
 * real small file systems (test/helpers/small-mount.ts; root, as in CI):
 * - a tmpfs filled by a filler file: the gateway keeps running, says so (log, health, Prometheus), keeps the
 *   ciphertexts it cannot write in memory and writes them once the filler is gone: a short episode loses nothing
 *   (the MDMS's sums equal the CSV's); a long one loses only what it counted;
 * - an ext4 file system the kernel turns read-only as after an SD card's I/O error (a running process cannot be
 *   remounted read-only: mount refuses while files are open for writing): it keeps running and says so, stops
 *   cleanly, and after e2fsck a restart delivers everything;
 * - a start on a full or read-only data directory: a clear error naming it, exit code 1, the buffer intact.
 * The buffer passes SQLite's integrity check after each.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { freePort } from '../helpers/ports.ts';
import { parsePrometheusText, sampleOf, type MetricFamily } from '../helpers/prometheus-text.ts';
import { mdmsComplete, type GatewayProcess } from '../helpers/scenario.ts';
import { fill, mountExt4, mountTmpfs, remount, unfill, type SmallMount } from '../helpers/small-mount.ts';
import { expectWithinNoise } from '../helpers/assert-mdms.ts';

/**
 * The evening of the 12 test households at 1800×: 12 s of data, the bills 30 minutes after midnight. The disk is
 * filled as soon as the gateway runs, so that readings arrive while it is full however slow a loaded machine is.
 */
const WINDOW = {
  from: '2012-10-10T18:00:00Z',
  to: '2012-10-11T00:00:00Z',
  speed: 1800,
  graceMinutes: { intervals: 60, billing: 30 },
};

/**
 * Room for the whole run's WAL: with the default checkpoint spacing (4,000 pages) every commit appends to the WAL,
 * so once the filler has taken the rest every write fails until it is removed.
 */
const MOUNT_MIB = 64;
/** The disk-full tests fill the disk before the first reading: this long after the configuration is written. */
const HOLD_MS = 25_000;

interface Run {
  h: Harness;
  gateway: GatewayProcess;
  dbFile: string;
  scrape: () => Promise<Map<string, MetricFamily>>;
  log: () => string;
}

/**
 * Puts the scenario's data directory on `dataDir`, with the Prometheus endpoint and the buffer settings given;
 * with `holdMs`, the data clock reaches the first reading only that long from now (its anchor), so that a test can
 * fill the disk before any reading arrives however slowly a loaded machine starts the gateway.
 */
async function onMount(h: Harness, dataDir: string, buffer: Record<string, unknown>, holdMs?: number) {
  const port = await freePort();
  const config = parse(readFileSync(h.scenario.configFile, 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  config.gateway!.dataDir = dataDir;
  config.buffer = buffer;
  config.observe = { healthSeconds: 0, metrics: { listen: String(port) } };
  if (holdMs !== undefined) config.clock!.anchor = new Date(Date.now() + holdMs).toISOString();
  writeFileSync(h.scenario.configFile, stringify(config));
  return {
    dbFile: path.join(dataDir, 'buffer.sqlite'),
    scrape: async () => parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()),
  };
}

async function start(
  h: Harness,
  dataDir: string,
  buffer: Record<string, unknown> = {},
  holdMs?: number,
): Promise<Run> {
  const { dbFile, scrape } = await onMount(h, dataDir, buffer, holdMs);
  const gateway = h.spawn();
  const log = () => (existsSync(h.scenario.logFile) ? readFileSync(h.scenario.logFile, 'utf8') : '');
  await poll(async () => (await scrape()).has('meterspace_storage_writable'), 60_000, 'the endpoint');
  return { h, gateway, dbFile, scrape, log };
}

/** Polls an async condition every 100 ms. */
async function poll(check: () => Promise<boolean>, timeoutMs: number, what: string, diag?: () => string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const gauge = async (run: Run, name: string, labels: Record<string, string> = {}) => {
  const families = await run.scrape();
  return families.has(name) ? sampleOf(families, name, labels) : 0;
};
/** Readings refused since the start, by code. */
async function rejectedByCode(run: Run): Promise<Record<string, number>> {
  const samples = (await run.scrape()).get('meterspace_readings_rejected_total')?.samples ?? [];
  return Object.fromEntries(samples.map((s) => [s.labels.code!, s.value]));
}
const rejected = async (run: Run, code: string) => (await rejectedByCode(run))[code] ?? 0;
const event = (run: Run, counter: string) =>
  run
    .scrape()
    .then(
      (f) => f.get('meterspace_events_total')?.samples.find((s) => s.labels.counter === counter)?.value ?? 0,
    );

function integrity(dbFile: string): string {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

/** Stops the gateway by SIGTERM: it must still be running (no crash) and exit 0. */
async function stop(run: Run): Promise<void> {
  expect(run.gateway.child.exitCode, run.gateway.output()).toBeNull();
  run.gateway.child.kill('SIGTERM');
  expect(await run.gateway.exited, run.gateway.output()).toBe(0);
}

async function waitForAll(run: Run): Promise<void> {
  const { store, scenario } = run.h;
  await poll(
    () => Promise.resolve(mdmsComplete(store, scenario.expected)),
    180_000,
    'every record at the MDMS',
    () => JSON.stringify(store.counts()),
  );
  // Let any re-sent batch arrive before counting duplicates.
  await new Promise((r) => setTimeout(r, 2000));
}

describe('disk full and read-only file system', () => {
  const mounts: SmallMount[] = [];
  const harnesses: Harness[] = [];
  afterAll(async () => {
    try {
      for (const h of harnesses) await h.close();
    } finally {
      // Unmounted even when a harness failed to close (a mount left behind would outlive the run).
      for (const m of mounts) m.close();
    }
  });
  const harness = async () => {
    const h = await startHarness(WINDOW);
    harnesses.push(h);
    return h;
  };

  it('disk full for a short while: keeps running, says so, writes what it held once space returns, loses nothing', async () => {
    const mount = mountTmpfs(MOUNT_MIB);
    mounts.push(mount);
    const run = await start(await harness(), path.join(mount.dir, 'var'), {}, HOLD_MS);
    const { store } = run.h;
    const filler = fill(mount.dir);
    expect(filler.bytes).toBeGreaterThan(0);
    await poll(async () => (await gauge(run, 'meterspace_storage_writable')) === 0, 30_000, 'writes to fail');
    // Held in memory, not lost: readings wait for the disk (and no group is decided without them).
    await poll(
      async () => (await gauge(run, 'meterspace_storage_unstored_readings')) >= 12,
      30_000,
      'an interval held',
    );
    expect(await gauge(run, 'meterspace_storage_failing_since_timestamp_seconds')).toBeGreaterThan(0);
    expect(await rejected(run, 'SQLITE_FULL')).toBe(0);
    expect(run.log()).toMatch(
      /"code":"SQLITE_FULL".*cannot write the buffer: the file system of .* is full: free space there/,
    );
    expect(run.gateway.child.exitCode).toBeNull();

    unfill(mount.dir);
    await poll(
      async () => (await gauge(run, 'meterspace_storage_writable')) === 1,
      30_000,
      'writes to succeed again',
    );
    expect(run.log()).toContain('the buffer takes writes again');
    await waitForAll(run);
    expect(await rejected(run, 'SQLITE_FULL')).toBe(0);
    expect(await event(run, 'readings.unstored')).toBeGreaterThanOrEqual(12);
    expectExactlyExpected(store, run.h.scenario.expected);
    await stop(run);
    expect(integrity(run.dbFile)).toBe('ok');
  }, 400_000);

  it('disk full for long: drops the oldest held ciphertexts past buffer.maxUnstoredReadings, only those, counted', async () => {
    const mount = mountTmpfs(MOUNT_MIB);
    mounts.push(mount);
    const run = await start(
      await harness(),
      path.join(mount.dir, 'var'),
      { maxUnstoredReadings: 12 },
      HOLD_MS,
    );
    const { store, scenario, groups } = run.h;
    fill(mount.dir);
    await poll(async () => (await rejected(run, 'SQLITE_FULL')) >= 24, 90_000, 'readings dropped');
    expect(await gauge(run, 'meterspace_storage_unstored_readings')).toBe(12);
    expect(run.log()).toContain('buffer.maxUnstoredReadings reached while the buffer refuses writes');
    unfill(mount.dir);
    await poll(async () => (await gauge(run, 'meterspace_storage_writable')) === 1, 30_000, 'writes again');
    await poll(
      async () => (await gauge(run, 'meterspace_storage_unstored_readings')) === 0,
      30_000,
      'none held',
    );
    const dropped = await rejectedByCode(run);
    expect(Object.keys(dropped)).toEqual(['SQLITE_FULL']);
    // Lost: exactly the readings counted. The bills (30 minutes after midnight, after every group of the evening)
    // hold every reading of the CSV but those; an account whose every reading was dropped has none.
    const want = [...scenario.expected.bills.values()].reduce((n, b) => n + b.intervals, 0);
    const billed = () => store.bills().reduce((n, b) => n + b.intervals, 0);
    await poll(
      () => Promise.resolve(want - billed() === dropped.SQLITE_FULL),
      180_000,
      'the bills of every reading not dropped',
      () =>
        `${JSON.stringify(store.counts())} want ${want} billed ${billed()} dropped ${dropped.SQLITE_FULL}`,
    );
    await new Promise((r) => setTimeout(r, 3000));
    expect(want - billed()).toBe(dropped.SQLITE_FULL);
    await stop(run);
    // Each group at most once (a group whose readings were all dropped does not exist); a group without a dropped
    // reading has the CSV's sums, within the noise's bound.
    const decided = [...store.aggregates(), ...store.suppressed()].map(
      (g) => `${g.neighbourhood} ${g.interval_start}`,
    );
    expect(new Set(decided).size).toBe(decided.length);
    expect(decided.length).toBeLessThanOrEqual(groups);
    let short = 0;
    for (const a of store.aggregates()) {
      const expected = scenario.expected.aggregates.get(`${a.neighbourhood} ${a.interval_start}`);
      expect(expected, a.interval_start).toBeDefined();
      expect(a.meters).toBeLessThanOrEqual(expected!.meters);
      if (a.meters === expected!.meters) expectWithinNoise(a, expected!.readings, a.interval_start);
      short += expected!.meters - a.meters;
    }
    expect(short).toBeLessThanOrEqual(dropped.SQLITE_FULL!);
    expect(integrity(run.dbFile)).toBe('ok');
  }, 400_000);

  it('file system gone read-only as after an SD card error: keeps running, says so, stops; after e2fsck a restart delivers everything', async () => {
    const mount = mountExt4(MOUNT_MIB);
    mounts.push(mount);
    const h = await harness();
    const dataDir = path.join(mount.dir, 'var');
    // FULL: what was committed before the file system turned read-only is on the disk. With NORMAL the kernel
    // drops what was still in its page cache, as a power cut does (docs/buffer.md, "Durability and SD cards").
    const durable = { synchronous: 'FULL' };
    const run = await start(h, dataDir, durable);
    const { store, scenario } = h;
    // Early, so that most of the evening is still to come (however slow the machine): the restart must bring it.
    await poll(
      async () => (await gauge(run, 'meterspace_readings_accepted_total')) >= 12,
      60_000,
      'readings',
    );
    mount.failReadOnly();
    await poll(async () => (await gauge(run, 'meterspace_storage_writable')) === 0, 30_000, 'writes to fail');
    const failed = ((await run.scrape()).get('meterspace_events_total')?.samples ?? [])
      .map((s) => s.labels.counter!)
      .filter((c) => c.startsWith('storage.failed.'));
    expect(failed.length).toBeGreaterThan(0);
    for (const c of failed) expect(c).toMatch(/^storage\.failed\.SQLITE_(READONLY|IOERR)/);
    expect(run.log()).toMatch(/cannot write the buffer: .*(is read-only|fails with I\/O errors)/);
    // Still running a while later, still saying so.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await gauge(run, 'meterspace_storage_writable')).toBe(0);
    await stop(run);

    const fsck = mount.repair();
    // 0: clean; 1: errors corrected (the kernel marked it as having errors).
    expect(fsck.code, fsck.output).toBeLessThanOrEqual(1);
    expect(integrity(run.dbFile)).toBe('ok');

    // A start on a read-only data directory: a clear error naming it, exit code 1 (systemd restarts it).
    remount(mount.dir, 'ro');
    const refused = h.spawn();
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(
      /error \[STORAGE_FAILED\]: cannot write .*buffer\.sqlite .*is read-only/,
    );
    expect(refused.output()).toContain(dataDir);
    remount(mount.dir, 'rw');
    expect(integrity(run.dbFile)).toBe('ok');

    // On the repaired file system the gateway resumes where its buffer stopped: everything arrives, once.
    const again = await start(h, dataDir, durable);
    await waitForAll(again);
    expectExactlyExpected(store, scenario.expected);
    await stop(again);
    expect(integrity(run.dbFile)).toBe('ok');
  }, 400_000);

  it('a start on a full data directory: a clear error naming it, exit code 1, nothing half-made', async () => {
    const mount = mountTmpfs(4);
    mounts.push(mount);
    const h = await harness();
    const dataDir = path.join(mount.dir, 'var');
    await onMount(h, dataDir, {});
    fill(mount.dir);
    const refused = h.spawn();
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(
      /error \[STORAGE_FAILED\]: cannot write .*buffer\.sqlite \(SQLITE_FULL\): the file system of .* is full/,
    );
    expect(refused.output()).toContain(dataDir);
    unfill(mount.dir);
    // With room again it starts on the same directory.
    const run = await start(h, dataDir);
    await poll(() => Promise.resolve(h.store.counts().batches >= 1), 90_000, 'a batch');
    await stop(run);
    expect(integrity(run.dbFile)).toBe('ok');
  }, 180_000);
});
