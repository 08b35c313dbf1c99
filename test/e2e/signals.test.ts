/**
 * Signals to a running gateway process (issue #20, item 5), with Mosquitto, the reference MDMS and the real data:
 * SIGHUP reads the configuration file again. An invalid file, one that re-points a bound meter and one that changes
 * a setting needing a restart are each logged with their code or paths while the gateway keeps running on its
 * configuration (sums keep arriving); a valid file that adds a neighbourhood with its meters is applied live (the new
 * meters are read: their suppressed groups reach the MDMS). SIGTERM still stops it gracefully, with exit code 0.
 * Before this, SIGHUP killed the gateway (exit 129) without a stop.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/harness.ts';
import type { RawConfig } from '../helpers/operator.ts';
import { waitFor } from '../helpers/scenario.ts';

interface LogLine {
  time: number;
  level: number;
  msg: string;
  code?: string;
  changed?: string[];
  restartRequired?: string[];
  reason?: string;
}

describe('signals to a running gateway', () => {
  let h: Harness;
  let original: RawConfig;

  beforeAll(async () => {
    h = await startHarness({
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-10T00:00:00Z',
      speed: 1800,
      anchor: new Date(Date.now() + 15_000).toISOString(),
      graceMinutes: { intervals: 120, billing: 180 },
    });
    // The gateway starts without the "tiny" neighbourhood and its two meters; a reload adds them.
    original = parse(readFileSync(h.scenario.configFile, 'utf8')) as RawConfig;
    const withoutTiny = structuredClone(original);
    withoutTiny.meters = withoutTiny.meters.filter((m) => m.neighbourhood !== 'tiny');
    withoutTiny.neighbourhoods = withoutTiny.neighbourhoods.filter((n) => n.id !== 'tiny');
    writeFileSync(h.scenario.configFile, stringify(withoutTiny));
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  const lines = (since: number): LogLine[] =>
    h
      .log()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine)
      .filter((l) => l.time >= since);

  /** Writes `config`, sends SIGHUP and returns the reload's log line. */
  async function reloadWith(pid: number, config: unknown, outcome: RegExp): Promise<LogLine> {
    writeFileSync(h.scenario.configFile, stringify(config));
    const since = Date.now();
    process.kill(pid, 'SIGHUP');
    let found: LogLine | undefined;
    await waitFor(
      () => (found = lines(since).find((l) => outcome.test(l.msg))) !== undefined,
      30_000,
      `a log line matching ${String(outcome)}`,
    );
    return found!;
  }

  it('reloads the configuration on SIGHUP, refuses a bad file with its code, and stops gracefully on SIGTERM', async () => {
    const gateway = h.spawn();
    await h.waitStarted();
    const pid = gateway.child.pid!;
    await waitFor(() => h.store.counts().aggregates >= 2, 60_000, 'the first sums');
    const running = parse(readFileSync(h.scenario.configFile, 'utf8')) as RawConfig;

    const invalid = structuredClone(running) as RawConfig & { privacy: { k: number } };
    invalid.privacy.k = 1;
    const refused = await reloadWith(pid, invalid, /^configuration reload refused/);
    expect(refused.code).toBe('CONFIG_INVALID');
    expect(refused.level).toBe(50);
    expect(refused.reason).toContain('privacy');

    // A meter bound to north moved to east: refused by the device-binding rules (re-homing is on site).
    const moved = structuredClone(running);
    moved.meters.find((m) => m.id === 'm01')!.neighbourhood = 'east';
    const repointed = await reloadWith(pid, moved, /^configuration reload refused/);
    expect(repointed.code).toBe('METER_MOVED');
    expect(repointed.reason).toContain('rehome m01');

    // A setting that needs a restart: nothing applied, the path named.
    const billing = structuredClone(running) as RawConfig & { billing: { graceMinutes: number } };
    billing.billing.graceMinutes = 200;
    const later = await reloadWith(
      pid,
      billing,
      /^configuration reloaded: it changes settings that need a restart/,
    );
    expect(later.restartRequired).toEqual(['billing.graceMinutes']);
    expect(gateway.child.exitCode).toBeNull();

    // Sums keep arriving on the running configuration.
    const before = h.store.counts().aggregates;
    await waitFor(() => h.store.counts().aggregates > before, 60_000, 'sums after the refusals');
    expect(h.store.suppressed()).toEqual([]); // no neighbourhood below k yet

    // A valid file adding tiny and its two meters: applied live, the new meters are read.
    const applied = await reloadWith(pid, original, /^configuration reloaded and applied/);
    expect(applied.changed).toEqual(
      expect.arrayContaining(['meters.m11', 'meters.m12', 'neighbourhoods.tiny']),
    );
    await waitFor(() => h.store.suppressed().length > 0, 60_000, "tiny's first suppressed group");
    expect(h.store.suppressed().every((s) => s.neighbourhood === 'tiny')).toBe(true);
    expect(gateway.child.exitCode).toBeNull();

    const since = Date.now();
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    const stopped = lines(since).map((l) => l.msg);
    expect(stopped).toContain('signal received');
    expect(stopped).toContain('stopped');
  }, 300_000);
});
