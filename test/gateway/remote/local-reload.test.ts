/**
 * The SIGHUP reload's decisions (issue #20), on real configuration files and key files: nothing changed, changes
 * applied live, changes that need a restart (nothing applied), an invalid file, a key of the wrong kind, a file that
 * re-points a bound meter, and new drivers that cannot start; every refusal counted by code and the running
 * configuration kept. The running gateway is a fake that records what it is asked to apply (as in
 * operator-service.test.ts); test/e2e/signals.test.ts does the same to a real gateway process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import type { ConfigTarget } from '../../../gateway/remote/operator-service.ts';
import { LocalReload } from '../../../gateway/remote/local-reload.ts';
import { recordingTarget } from '../../helpers/config-target.ts';
import { makeKeySet, type KeySet } from '../../helpers/keys.ts';
import type { RawConfig } from '../../helpers/operator.ts';
import { makeScenario } from '../../helpers/scenario.ts';

const WINDOW = {
  brokerUrl: 'mqtt://127.0.0.1:9',
  from: '2012-10-09T00:00:00Z',
  to: '2012-10-09T01:00:00Z',
  speed: 1,
};

describe('reloading the configuration file', () => {
  let keys: KeySet;
  beforeAll(async () => {
    keys = await makeKeySet();
  }, 120_000);

  function rig(opts: { failApply?: boolean; boundTo?: Record<string, string> } = {}) {
    const file = makeScenario({ keys, ...WINDOW }).configFile;
    const raw = parse(readFileSync(file, 'utf8')) as RawConfig & Record<string, Record<string, unknown>>;
    const { target: recording, applied, running } = recordingTarget(file, opts);
    const bound = opts.boundTo ?? {};
    const target: ConfigTarget = {
      ...recording,
      devices: () => ({
        known: {
          binding: () => undefined,
          meter: (id) => (bound[id] ? { state: 'bound', neighbourhood: bound[id] } : undefined),
          neighbourhood: () => undefined,
        },
        realpath: (p) => p,
      }),
    };
    const metrics = new Metrics();
    const reloader = new LocalReload(file, target, metrics, silentLogger());
    const write = (edit: (c: typeof raw) => void) => {
      const next = structuredClone(raw);
      edit(next);
      writeFileSync(file, stringify(next));
    };
    return { reloader, applied, metrics, write, running };
  }

  it('applies nothing when nothing changed', async () => {
    const r = rig();
    expect(await r.reloader.reload()).toEqual({ applied: 'unchanged', changed: [] });
    expect(r.applied).toEqual([]);
  });

  it('applies live changes at once, all of them', async () => {
    const r = rig();
    r.write((c) => {
      c.privacy!.k = 4;
      c.gateway!.logLevel = 'info';
    });
    expect(await r.reloader.reload()).toEqual({
      applied: 'live',
      changed: ['gateway.logLevel', 'privacy.k'],
    });
    expect(r.running().privacy.k).toBe(4);
    expect(r.metrics.snapshot()['config.reload_applied']).toBe(1);
  });

  it('applies none of a file that also changes a setting needing a restart', async () => {
    const r = rig();
    r.write((c) => {
      c.privacy!.k = 4;
      (c.billing as { graceMinutes: number }).graceMinutes = 200;
    });
    expect(await r.reloader.reload()).toEqual({
      applied: 'restart',
      changed: ['billing.graceMinutes', 'privacy.k'],
      restartRequired: ['billing.graceMinutes'],
    });
    expect(r.applied).toEqual([]);
  });

  it('refuses an invalid file, a key of the wrong kind and a re-pointed meter, keeping the running configuration', async () => {
    const r = rig({ boundTo: { m01: 'north' } });
    const before = r.running();
    r.write((c) => void (c.privacy!.k = 1));
    expect(await r.reloader.reload()).toEqual({ applied: 'refused', code: 'CONFIG_INVALID' });
    r.write((c) => void ((c.keys as Record<string, string>).mdmsPublic = keys.files.mdmsPrivate));
    expect(await r.reloader.reload()).toEqual({ applied: 'refused', code: 'KEY_KIND_WRONG' });
    r.write((c) => void (c.meters.find((m) => m.id === 'm01')!.neighbourhood = 'east'));
    expect(await r.reloader.reload()).toEqual({ applied: 'refused', code: 'METER_MOVED' });
    expect(r.applied).toEqual([]);
    expect(r.running()).toBe(before);
    const counts = r.metrics.snapshot();
    expect(counts['config.reload_refused.CONFIG_INVALID']).toBe(1);
    expect(counts['config.reload_refused.KEY_KIND_WRONG']).toBe(1);
    expect(counts['config.reload_refused.METER_MOVED']).toBe(1);
  });

  it('reports new drivers that cannot start by their code (the running gateway restored them)', async () => {
    const r = rig({ failApply: true });
    r.write((c) => void (c.privacy!.k = 4));
    expect(await r.reloader.reload()).toEqual({ applied: 'refused', code: 'SERIAL_PORT_FAILED' });
    expect(r.running().privacy.k).toBe(5);
  });
});
