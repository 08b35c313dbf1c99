/**
 * The spine end to end: two days of real household data replayed through the gateway process into a real
 * Mosquitto broker and the reference MDMS. Every decrypted aggregate and bill must equal the plaintext sums
 * computed independently from the CSV, and no plaintext may be found at rest, in logs or upstream.
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { packingLayout } from '../../gateway/gateway.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { findNeedles, plaintextNeedles } from '../helpers/plaintext-scan.ts';
import { isPeak } from '../helpers/consumption.ts';
import { publishedRecords, runPipeline, type PipelineRun } from '../helpers/pipeline-run.ts';
import { TEST_METERS, type Scenario } from '../helpers/scenario.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';

describe('gateway → Mosquitto → reference MDMS, two days of real data', () => {
  let run: PipelineRun;
  let scenario: Scenario;
  let store: MdmsStore;
  let upstream: PipelineRun['upstream'];
  let atRest: Buffer;

  beforeAll(async () => {
    run = await runPipeline(
      { from: '2012-10-10T00:00:00Z', to: '2012-10-12T00:00:00Z', speed: 2400 },
      ({ dbFile, logFile }) => {
        // Read the buffer while the gateway still runs, WAL included.
        const files = [dbFile, `${dbFile}-wal`, logFile].filter((f) => existsSync(f));
        atRest = Buffer.concat(files.map((f) => readFileSync(f)));
      },
    );
    ({ scenario, store, upstream } = run);
  }, 200_000);

  afterAll(() => run?.stop());

  it('holds exactly the expected aggregates (CSV sums and counts), suppressions and per-band daily bills', () => {
    expect(scenario.expected.aggregates.size).toBeGreaterThan(150);
    expect(scenario.expected.bills.size).toBe(TEST_METERS.length * 2);
    expectExactlyExpected(store, scenario.expected);
  });

  it('never releases a group below k, and reports each suppression once', () => {
    for (const a of store.aggregates()) expect(a.meters).toBeGreaterThanOrEqual(5);
    expect(store.aggregates().some((a) => a.neighbourhood === 'tiny')).toBe(false);
    // Upstream, not even a ciphertext of a suppressed group was sent.
    const records = publishedRecords(upstream);
    const tiny = records.filter((r) => 'neighbourhood' in r && r.neighbourhood === 'tiny');
    expect(new Set(tiny.map((r) => r.id)).size).toBe(
      [...scenario.expected.suppressed].filter((g) => g.startsWith('tiny ')).length,
    );
    expect(tiny.every((r) => r.kind === 'suppressed' && !('ciphertext' in r) && !('meters' in r))).toBe(true);
  });

  it('leaves no plaintext reading in the SQLite file, its WAL, the log or anything published', () => {
    const config = loadConfigFile(scenario.configFile);
    const layout = packingLayout(config, 2048);
    const needles = plaintextNeedles(scenario.rows, layout, isPeak);
    expect(needles.size).toBeGreaterThan(1000);
    expect(atRest.length).toBeGreaterThan(10_000);
    expect(findNeedles(atRest, needles)).toEqual([]);
    const wire = Buffer.concat(upstream.map((m) => m.payload));
    expect(wire.length).toBeGreaterThan(10_000);
    expect(findNeedles(wire, needles)).toEqual([]);
    // No household id or meter serial travels upstream either (invariant 3).
    const text = wire.toString();
    for (const m of TEST_METERS) expect(text.includes(m.household), m.household).toBe(false);
  });
});
