/**
 * The auditor's attacks against the gateway's own checks, and its verdicts: every attack built from a gateway's
 * file is refused by the floor check a command goes through (so a PASS from a live gateway means something), and
 * a reply that accepts one is a FAIL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BufferStore } from '../../../../gateway/buffer/buffer.ts';
import { ConfigError, validateConfig } from '../../../../gateway/config/load.ts';
import { sourceKeys } from '../../../../gateway/devices/source-keys.ts';
import { Metrics } from '../../../../gateway/observe/metrics.ts';
import { floorViolations } from '../../../../gateway/remote/privacy-floor.ts';
import { ATTACKS, type RawConfig, type RawMeter } from '../../../../scripts/lib/audit/attacks.ts';
import { verdictLine, verdictOf } from '../../../../scripts/lib/audit/verdict.ts';
import { openTestBuffer } from '../../../helpers/buffer.ts';

const meter = (id: string, source: RawMeter['source']): RawMeter => ({
  id,
  neighbourhood: 'north',
  account: `ACC-${id}`,
  source,
});

function gatewayFile(): RawConfig {
  return {
    gateway: { id: 'gw-1' },
    keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem', operatorPublic: 'o.pem' },
    upstream: { url: 'mqtt://127.0.0.1:1883' },
    privacy: { kFloor: 5, k: 5 },
    drivers: {
      replay: { file: '/data/c.csv' },
      modbus: { buses: { tcp1: { transport: 'tcp', host: '10.0.0.5', port: 502 } } },
    },
    neighbourhoods: [{ id: 'north' }],
    meters: [
      meter('m01', { driver: 'modbus', bus: 'tcp1', unit: 1, model: 'eastron-sdm630' }),
      ...['m02', 'm03', 'm04', 'm05'].map((id) => meter(id, { driver: 'replay', household: id })),
    ],
  };
}

let buffer: BufferStore | undefined;
afterEach(() => buffer?.close());

describe('scripts/audit attacks', () => {
  it('are each refused by the checks of a remote command, on the meter as an audit targets it', () => {
    const raw = gatewayFile();
    const running = validateConfig(raw);
    buffer = openTestBuffer(35n ** 2n, new Metrics());
    for (const m of running.meters)
      buffer.devices.bindSources(
        m,
        sourceKeys(running, m, (p) => p),
        1000,
      );
    const devices = { known: buffer.devices, realpath: (p: string) => p };
    const refused = ATTACKS.map((attack) => {
      const next = attack.build(structuredClone(raw), raw.meters[0]!);
      expect(next, attack.name).toBeDefined();
      try {
        return [attack.name, floorViolations(running, validateConfig(next), devices).length > 0];
      } catch (error) {
        return [attack.name, error instanceof ConfigError];
      }
    });
    expect(Object.fromEntries(refused)).toEqual({
      padding: true,
      twin: true,
      alias: true,
      isolate: true,
      move: true,
    });
  });

  it('leave the file they start from as it was, and skip what does not apply', () => {
    const raw = gatewayFile();
    const copy = structuredClone(raw);
    for (const attack of ATTACKS) attack.build(raw, raw.meters[1]!);
    expect(raw).toEqual(copy);
    expect(ATTACKS.find((a) => a.name === 'alias')!.build(raw, raw.meters[1]!)).toBeUndefined();
  });
});

describe('scripts/audit verdicts', () => {
  it('PASS a refusal with its codes; FAIL an acceptance, and say when it was applied', () => {
    const refused = verdictOf('padding', {
      v: 1,
      type: 'config-reply',
      id: 'x',
      ok: false,
      code: 'PRIVACY_FLOOR',
      issues: [
        { path: 'meters.m01', message: '…', code: 'MEMBERSHIP_STEERED' },
        { path: 'meters.v', message: '…', code: 'DEVICE_NOT_NEW' },
        { path: 'meters.v', message: '…' },
      ],
    });
    expect(refused).toEqual({
      attack: 'padding',
      status: 'PASS',
      codes: ['PRIVACY_FLOOR', 'MEMBERSHIP_STEERED', 'DEVICE_NOT_NEW'],
      applied: false,
    });
    const checked = verdictOf('twin', { v: 1, type: 'config-reply', id: 'x', ok: true, applied: 'checked' });
    expect(checked.status).toBe('FAIL');
    expect(checked.applied).toBe(false);
    const live = verdictOf('twin', { v: 1, type: 'config-reply', id: 'x', ok: true, applied: 'live' });
    expect(live.applied).toBe(true);
    expect(verdictLine(live, 'a second id')).toMatch(/^FAIL {2}twin +NOT REFUSED AND APPLIED: a second id$/);
  });
});
