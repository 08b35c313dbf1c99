/**
 * The buffer's faults of issue #20, items 2–4, on the real gateway process, real SQLite files, Mosquitto and the
 * reference MDMS (docs/reliability.md, "The buffer: lost, corrupt, shared"):
 * - SIGKILL, then the WAL deleted (the -shm kept): the start is refused (exit 3, BUFFER_BEHIND_MARKER) naming
 *   what is missing; `--accept-data-loss` starts, logs it and numbers its batches after the marker's;
 * - a zero-length buffer.sqlite beside a marker: refused the same way;
 * - garbage bytes in buffer.sqlite: one line `error [BUFFER_CORRUPT]`, no stack trace, exit 3;
 * - a page corrupted under a running gateway: Prometheus shows storage corrupt and not writable, the error is
 *   logged once, the doctor fails the buffer with BUFFER_CORRUPT;
 * - a second gateway on the same data directory: refused (DATA_DIR_LOCKED) naming the first one's PID, which
 *   keeps running.
 */
import Database from 'better-sqlite3';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.ts';
import { freePort } from '../helpers/ports.ts';
import { parsePrometheusText, sampleOf } from '../helpers/prometheus-text.ts';
import { runCli } from '../helpers/run-cli.ts';
import { GATEWAY_BIN, waitFor, type GatewayProcess } from '../helpers/scenario.ts';
import { MARKER_FILE, type Marker } from '../../gateway/buffer/marker.ts';
import { isoUtc } from '../../gateway/time/zoned.ts';

/** The evening of the 12 test households at 1800×: 12 s of data. */
const WINDOW = {
  from: '2012-10-10T18:00:00Z',
  to: '2012-10-11T00:00:00Z',
  speed: 1800,
  graceMinutes: { intervals: 60, billing: 30 },
};

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const dataDir = (x: Harness) => path.dirname(x.scenario.dbFile);
const marker = (x: Harness) => JSON.parse(readFileSync(path.join(dataDir(x), MARKER_FILE), 'utf8')) as Marker;
/** How many times the gateway has logged "started" in this scenario. */
const starts = (x: Harness) => x.log().split('"msg":"started"').length - 1;
const iso = (ms: number | null) => (ms === null ? 'never' : isoUtc(ms));

/** Turns the Prometheus endpoint on in the scenario's configuration; returns a scrape of it. */
async function withMetrics(x: Harness) {
  const port = await freePort();
  const config = parse(readFileSync(x.scenario.configFile, 'utf8')) as Record<string, unknown>;
  config.observe = { healthSeconds: 0, metrics: { listen: String(port) } };
  writeFileSync(x.scenario.configFile, stringify(config));
  return async () => parsePrometheusText(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

/** Starts the gateway and waits until it has created a batch (the marker counts it before it is published). */
async function startUntilBatch(x: Harness): Promise<GatewayProcess> {
  const gateway = x.spawn();
  await x.waitStarted();
  await waitFor(
    () => marker(x).batchSeq >= 1,
    90_000,
    'a batch in the marker',
    () => x.log(),
  );
  return gateway;
}

/** Stops a gateway with SIGTERM (a clean stop) and waits for its exit code. */
async function stop(g: GatewayProcess): Promise<number | null> {
  g.child.kill('SIGTERM');
  return g.exited;
}

/** What a refused start printed: its exit code and stderr, which must be one line without a stack trace. */
async function refusal(g: GatewayProcess): Promise<{ code: number | null; line: string }> {
  const code = await g.exited;
  const lines = g.output().trim().split('\n');
  expect(lines, g.output()).toHaveLength(1);
  expect(g.output()).not.toMatch(/^\s+at /m);
  return { code, line: lines[0]! };
}

describe('the buffer: lost, corrupt, shared (issue #20)', () => {
  it('a lost WAL after SIGKILL is refused with what is missing; --accept-data-loss continues after it', async () => {
    h = await startHarness(WINDOW);
    const scrape = await withMetrics(h);
    // A batch created since the start, in the WAL only (no checkpoint this early); killed while data still flows,
    // so that the gateway has records to batch after the acceptance.
    const first = await startUntilBatch(h);
    first.child.kill('SIGKILL');
    await first.exited;
    const before = marker(h);
    rmSync(`${h.scenario.dbFile}-wal`);

    const refused = await refusal(h.spawn());
    expect(refused.code).toBe(3);
    expect(refused.line).toMatch(
      /^error \[BUFFER_BEHIND_MARKER\]: .*buffer\.sqlite: the buffer is behind its marker/,
    );
    expect(refused.line).toContain('(the buffer has batches up to 0)');
    if (before.ackedThrough < before.batchSeq)
      expect(refused.line).toContain(`unacknowledged batches ${before.ackedThrough + 1}..${before.batchSeq}`);
    expect(refused.line).toContain(`readings of intervals after never up to ${iso(before.lastInterval)}`);
    expect(refused.line).toContain('--accept-data-loss');

    const accepted = h.spawn(['--accept-data-loss']);
    await waitFor(
      () => starts(h!) === 2,
      60_000,
      'the start with --accept-data-loss',
      () => h!.log(),
    );
    expect(h.log()).toContain('data loss accepted (--accept-data-loss)');
    // Recorded for the operator: the health's storage.dataLossAccepted, shown on the Prometheus endpoint.
    let acceptedAt = 0;
    await waitFor(
      () => {
        void scrape().then(
          (m) => (acceptedAt = sampleOf(m, 'meterspace_buffer_data_loss_accepted_timestamp_seconds', {})),
          () => undefined,
        );
        return acceptedAt > 0;
      },
      60_000,
      'the acceptance on the metrics endpoint',
    );
    // Its new batches are numbered after the marker's: no batch id is given out twice.
    const createdAfter = () => {
      const created = [
        ...h!.log().matchAll(/"batchId":"gw-test-(\d+)","bytes":\d+,"msg":"batch created"/g),
      ].map((m) => Number(m[1]));
      return created.slice(created.lastIndexOf(before.batchSeq) + 1);
    };
    await waitFor(
      () => createdAfter().length > 0,
      90_000,
      'a new batch',
      () => h!.log(),
    );
    const after = createdAfter();
    expect(Math.min(...after)).toBe(before.batchSeq + 1);
    expect(await stop(accepted)).toBe(0);

    // The acceptance is recorded in the buffer, and the next start is a normal one.
    const db = new Database(h.scenario.dbFile, { readonly: true });
    const row = db.prepare("SELECT value FROM state WHERE key = 'buffer.data_loss_accepted'").get() as {
      value: string;
    };
    db.close();
    expect(JSON.parse(row.value)).toMatchObject({
      missing: expect.stringContaining('behind its marker') as string,
    });
    const again = h.spawn();
    await waitFor(
      () => starts(h!) === 3,
      60_000,
      'the third start',
      () => h!.log(),
    );
    expect(await stop(again)).toBe(0);
  }, 300_000);

  it('a zero-length buffer is refused; garbage bytes give one line BUFFER_CORRUPT, exit 3', async () => {
    h = await startHarness(WINDOW);
    expect(await stop(await startUntilBatch(h))).toBe(0);
    const { bufferId } = marker(h);

    truncateSync(h.scenario.dbFile, 0);
    rmSync(`${h.scenario.dbFile}-wal`, { force: true });
    rmSync(`${h.scenario.dbFile}-shm`, { force: true });
    const empty = await refusal(h.spawn());
    expect(empty.code).toBe(3);
    expect(empty.line).toMatch(/^error \[BUFFER_BEHIND_MARKER\]: /);
    expect(empty.line).toContain(`describes buffer ${bufferId}, this is a buffer without identity`);

    writeFileSync(h.scenario.dbFile, Buffer.alloc(8192, 'not a database, just garbage '));
    rmSync(`${h.scenario.dbFile}-wal`, { force: true });
    rmSync(`${h.scenario.dbFile}-shm`, { force: true });
    const garbage = await refusal(h.spawn());
    expect(garbage.code).toBe(3);
    expect(garbage.line).toMatch(/^error \[BUFFER_CORRUPT\]: .*buffer\.sqlite is corrupt \(SQLITE_NOTADB: /);
    expect(garbage.line).toContain('.recover');
    expect(garbage.line).toContain('docs/buffer.md');
  }, 240_000);

  it('a page corrupted under a running gateway: storage corrupt in Prometheus, logged once, the doctor fails it', async () => {
    h = await startHarness(WINDOW);
    const scrape = await withMetrics(h);
    h.spawn();
    await h.waitStarted();
    await waitFor(
      () => marker(h!).batchSeq >= 1,
      90_000,
      'a batch',
      () => h!.log(),
    );
    expect(sampleOf(await scrape(), 'meterspace_storage_corrupt', {})).toBe(0);

    // Everything into the database file, then garbage over the root page of the batches table, behind SQLite's
    // back; a write through SQLite then makes the gateway's connection drop its cached pages and read the file.
    // Repeated until the gateway has read it: a batch the gateway writes between the checkpoint and the garbage
    // puts a good copy of that page in the WAL, which SQLite reads instead of the file (a race on a busy machine).
    const corruptBatchesRoot = () => {
      const db = new Database(h!.scenario.dbFile);
      try {
        db.pragma('busy_timeout = 5000');
        db.pragma('wal_checkpoint(TRUNCATE)');
        const { rootpage } = db
          .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'batches'")
          .get() as { rootpage: number };
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        const fd = openSync(h!.scenario.dbFile, 'r+');
        writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, (rootpage - 1) * pageSize);
        fsyncSync(fd);
        closeSync(fd);
        db.prepare("INSERT OR REPLACE INTO state (key, value) VALUES ('test.poke', ?)").run(
          String(Date.now()),
        );
      } finally {
        db.close();
      }
    };

    // The endpoint must keep answering on a corrupt buffer (it is what tells the operator).
    let corrupt = 0;
    let corruptedAt = 0;
    await waitFor(
      () => {
        if (corrupt !== 1 && Date.now() - corruptedAt > 10_000) {
          corruptBatchesRoot();
          corruptedAt = Date.now();
        }
        // A scrape that fails, or lacks the gauge, is not yet an answer (and must not reject unhandled).
        void scrape()
          .then((m) => (corrupt = sampleOf(m, 'meterspace_storage_corrupt', {})))
          .catch(() => (corrupt = -1));
        return corrupt === 1;
      },
      90_000,
      'meterspace_storage_corrupt 1',
      () => h!.log(),
    );
    const metrics = await scrape();
    expect(sampleOf(metrics, 'meterspace_storage_writable', {})).toBe(0);
    await new Promise((r) => setTimeout(r, 3000)); // several ticks and flushes fail meanwhile
    expect(h.log().split('"msg":"the buffer is corrupt').length - 1).toBe(1);

    const doctor = await runCli(GATEWAY_BIN, ['--config', h.scenario.configFile, '--doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL\s+buffer\s+\[BUFFER_CORRUPT\] .*buffer\.sqlite/);
  }, 240_000);

  it('a second gateway on the same data directory is refused, naming the first one; the first keeps running', async () => {
    h = await startHarness(WINDOW);
    const first = h.spawn();
    await h.waitStarted();
    const second = await refusal(h.spawn());
    expect(second.code).toBe(1);
    expect(second.line).toMatch(/^error \[DATA_DIR_LOCKED\]: /);
    expect(second.line).toContain(`${dataDir(h)} is in use by the gateway with PID ${first.child.pid}`);
    // The first one still works: it creates and publishes batches after the refusal.
    const seq = marker(h).batchSeq;
    await waitFor(
      () => marker(h!).batchSeq > seq,
      90_000,
      'a batch after the refusal',
      () => h!.log(),
    );
    expect(first.child.exitCode).toBeNull();
    const doctor = await runCli(GATEWAY_BIN, ['--config', h.scenario.configFile, '--doctor']);
    expect(doctor.stdout).toContain(`in use by the running gateway (PID ${first.child.pid})`);
    expect(await stop(first)).toBe(0);
  }, 240_000);
});
