/**
 * Tariff bands as a per-interval channel (issue #14 C): a bill reports each band's total over the period, so a band
 * of one short window would report that window of every day of the account. The floor refuses it with its path in
 * the validator, through the real `scripts/gateway --check`, at start and in the doctor, and never remotely.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../../gateway/config/load.ts';
import { floorViolations } from '../../../gateway/remote/privacy-floor.ts';
import { runCli } from '../../helpers/run-cli.ts';

const GATEWAY_BIN = path.resolve(import.meta.dirname, '../../../scripts/gateway');

/** A valid configuration with the given bands and band floor; 30-minute intervals. */
function withBands(bands: { name: string; windows: string[] }[], minBandMinutes?: number) {
  return {
    gateway: { id: 'gw-bands' },
    keys: {
      supplierPublic: 'keys/supplier.paillier.pub.json',
      gatewayPrivate: 'keys/gateway.ed25519.key.pem',
      mdmsPublic: 'keys/mdms.ed25519.pub.pem',
    },
    upstream: { url: 'mqtt://localhost:1883' },
    intervals: { minutes: 30 },
    billing: { bands, ...(minBandMinutes === undefined ? {} : { minBandMinutes }) },
    drivers: { replay: { file: 'data/consumption.csv' } },
    neighbourhoods: [{ id: 'nb-a' }],
    meters: [
      { id: 'm1', neighbourhood: 'nb-a', account: 'A1', source: { driver: 'replay', household: '1' } },
    ],
  };
}

/** The attack: one band of a single half-hour, the rest of the day in another. */
const SPY_BANDS = [
  { name: 'spy', windows: ['18:00-18:30'] },
  { name: 'rest', windows: ['18:30-18:00'] },
];

function issuesOf(raw: unknown): ConfigError['issues'] {
  try {
    validateConfig(raw, 'bands.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  return [];
}

function writeConfig(raw: unknown): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'bands-')), 'gateway.yaml');
  writeFileSync(file, stringify(raw));
  return file;
}

describe('the tariff band floor', () => {
  it('refuses a 30-minute band with its path, how much it covers and why', () => {
    const issues = issuesOf(withBands(SPY_BANDS));
    expect(issues).toEqual([
      {
        path: 'billing.bands.0.windows',
        message: expect.stringMatching(
          /band "spy" covers 30 minutes of the day, fewer than .*\(180\)/,
        ) as string,
      },
    ]);
  });

  it('counts a band over all its windows: two 1-hour windows pass a 120-minute floor, not a 180-minute one', () => {
    const bands = [
      { name: 'shoulder', windows: ['07:00-08:00', '19:00-20:00'] },
      { name: 'day', windows: ['08:00-19:00'] },
      { name: 'night', windows: ['20:00-07:00'] },
    ];
    expect(issuesOf(withBands(bands, 120))).toEqual([]);
    expect(issuesOf(withBands(bands)).map((i) => i.path)).toEqual(['billing.bands.0.windows']);
  });

  it('accepts a band of exactly the floor and the default 16 h / 8 h split', () => {
    expect(
      issuesOf(
        withBands([
          { name: 'peak', windows: ['17:00-20:00'] },
          { name: 'rest', windows: ['20:00-17:00'] },
        ]),
      ),
    ).toEqual([]);
    expect(
      validateConfig(withBands([{ name: 'all', windows: ['00:00-24:00'] }])).billing.minBandMinutes,
    ).toBe(180);
  });

  it('never lets the floor go below one hour, so at most 24 bands can exist', () => {
    expect(issuesOf(withBands(SPY_BANDS, 30)).map((i) => i.path)).toContain('billing.minBandMinutes');
    expect(issuesOf(withBands(SPY_BANDS, 60)).map((i) => i.path)).toEqual(['billing.bands.0.windows']);
  });

  it('is refused through the real scripts/gateway --check and at start, exit 2 with the path', async () => {
    const file = writeConfig(withBands(SPY_BANDS));
    for (const args of [['--check'], []]) {
      const run = await runCli(GATEWAY_BIN, ['--config', file, ...args]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('billing.bands.0.windows: band "spy" covers 30 minutes');
    }
  }, 60_000);

  it('is refused by the doctor', async () => {
    const run = await runCli(GATEWAY_BIN, ['--config', writeConfig(withBands(SPY_BANDS)), '--doctor']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/FAIL.*config[\s\S]*billing\.bands\.0\.windows: band "spy"/);
  }, 60_000);

  it('cannot be lowered or bypassed remotely', () => {
    const running = validateConfig(withBands([{ name: 'all', windows: ['00:00-24:00'] }]));
    const lowered = validateConfig(withBands([{ name: 'all', windows: ['00:00-24:00'] }], 60));
    expect(floorViolations(running, lowered).map((i) => i.path)).toEqual(['billing.minBandMinutes']);
    const rebanded = validateConfig(
      withBands([
        { name: 'peak', windows: ['17:00-20:00'] },
        { name: 'rest', windows: ['20:00-17:00'] },
      ]),
    );
    expect(floorViolations(running, rebanded).length).toBeGreaterThan(0);
  });
});
