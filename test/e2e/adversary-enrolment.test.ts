/**
 * Issue #14 "Why" 2, played end to end: the operator holds meter m12's one-time enrolment code (it printed it),
 * and after the household enrolled, tries to make the same code enrol again on another household's meter:
 * remove m12's neighbourhood (applied: a whole neighbourhood may go), then re-add "m12" on m01's source. With the
 * real tools (`scripts/keygen`, `scripts/customer`, `scripts/operator`), a real gateway and Mosquitto: the
 * re-adding is refused, the removed meter's code is deleted from the codes file, the old code enrols nothing,
 * and the holder of the code gets none of m01's readings.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnrolmentCodes } from '../../gateway/customer/enrolment-codes.ts';
import type { Harness } from '../helpers/harness.ts';
import { customer, issueCode, startHouseholdHarness } from '../helpers/household.ts';
import { addOperatorKey, operatorCli, type OperatorKey, type RawConfig } from '../helpers/operator.ts';
import { GATEWAY_ID } from '../helpers/scenario.ts';

const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-10T00:00:00Z';

type Raw = RawConfig;

describe('a one-time enrolment code against the operator', () => {
  let h: Harness;
  let dir: string;
  let operatorKey: OperatorKey;

  beforeAll(async () => {
    ({ h, dir } = await startHouseholdHarness({ from: FROM, to: TO, leadSeconds: 20 }));
    operatorKey = addOperatorKey(h, (config) => {
      config.privacy = { k: 5, kFloor: 5 };
    });
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('enrols once; its meter removed, the code is void and re-adding the id on another source is refused', async () => {
    const code = await issueCode(h, 'm12');
    const codesFile = path.join(dir, 'enrolment-codes.json');
    h.spawn();
    await h.waitStarted();
    const operator = operatorCli(h, operatorKey);
    const enrolAs = async (name: string) => {
      const key = path.join(dir, `${name}.key.json`);
      expect((await customer(['keygen', '--key', key])).code).toBe(0);
      const common = ['--key', key, '--broker', h.broker.url, '--gateway', GATEWAY_ID, '--meter', 'm12'];
      return { key, enrol: () => customer(['enrol', ...common, '--code', code]) };
    };

    // The household enrols with its code; the operator's copy of the code enrols nothing more.
    const household = await enrolAs('household');
    const enrolled = await household.enrol();
    expect(enrolled.code, enrolled.stderr).toBe(0);
    // The reply names the device m12 is bound to (its replayed household), or that it has not been read yet.
    expect(enrolled.stdout).toMatch(
      /your meter's device: (replayed household \d+ \(compare it with the serial on your meter\)|not read yet)/,
    );
    const attacker = await enrolAs('attacker');
    const again = await attacker.enrol();
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('this enrolment code has been used');

    // Command 1: m12's whole neighbourhood removed — allowed; its ids retired, its codes deleted.
    const running = parse(readFileSync(h.scenario.configFile, 'utf8')) as Raw;
    const m01 = running.meters.find((m) => m.id === 'm01')!;
    const removed = structuredClone(running);
    removed.meters = removed.meters.filter((m) => m.neighbourhood !== 'tiny');
    removed.neighbourhoods = removed.neighbourhoods.filter((n) => n.id !== 'tiny');
    const removeFile = path.join(dir, 'remove.yaml');
    writeFileSync(removeFile, stringify(removed));
    const applied = await operator('set', '--file', removeFile);
    expect(applied.code, applied.stderr).toBe(0);
    expect(loadEnrolmentCodes(codesFile).has('m12')).toBe(false);

    // Command 2: "m12" back, on m01's source, among meters the operator knows: refused, nothing applied.
    const readd = structuredClone(removed);
    readd.neighbourhoods.push({ id: 'pad' });
    readd.meters.push(
      { id: 'm12', neighbourhood: 'pad', account: 'ACC-012', source: { ...m01.source } },
      ...[1, 2, 3, 4].map((i) => ({
        id: `known${i}`,
        neighbourhood: 'pad',
        account: `ACC-K${i}`,
        source: { driver: 'replay', household: `known-${i}` },
      })),
    );
    const readdFile = path.join(dir, 'readd.yaml');
    writeFileSync(readdFile, stringify(readd));
    const before = readFileSync(h.scenario.configFile, 'utf8');
    const refused = await operator('set', '--file', readdFile);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('meters.m12: [METER_ID_RETIRED]');
    expect(refused.stderr).toContain('meters.m12.source: [DEVICE_NOT_NEW]');
    expect(readFileSync(h.scenario.configFile, 'utf8')).toBe(before);

    // The old code enrols nothing, and its holder reads nothing of m01's household.
    const stale = await attacker.enrol();
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/ENROLMENT_REFUSED|ENROLMENT_CODE_USED/);
    const info = await customer(['info', '--key', attacker.key]);
    expect(info.code).toBe(1);
    expect(info.stdout).toBe('');
  }, 180_000);
});
