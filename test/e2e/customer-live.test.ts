/**
 * A household as it would do it, end to end with the real tools: the installer makes the meter's enrolment code
 * (`scripts/keygen enrolment-code`), the household makes its keys on its own device (`scripts/customer keygen`),
 * a wrong code is refused, the right one enrols it (fingerprints compared), and `scripts/customer live` shows
 * exactly its meter's readings from the real data as the gateway reads them, while another household's key,
 * listening on the same stream, opens nothing. Mosquitto, the gateway process and the CLIs are real.
 */
import type { ChildProcess } from 'node:child_process';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoUtc } from '../../gateway/time/zoned.ts';
import type { Harness } from '../helpers/harness.ts';
import { customer, issueCode, spawnCustomer, startHouseholdHarness } from '../helpers/household.ts';
import { GATEWAY_ID, TEST_METERS, waitFor } from '../helpers/scenario.ts';

const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-09T12:00:00Z';
const HALF_HOUR = 1_800_000;

const listen = (keyFile: string) => spawnCustomer(['live', '--key', keyFile]);

describe('a household enrols, reads its own readings live and as history, and erases them', () => {
  let h: Harness;
  let dir: string;
  let codesFile: string;
  const meter = TEST_METERS[0]!;
  const listeners: ChildProcess[] = [];

  beforeAll(async () => {
    // The data starts flowing 45 s from now: time to start the gateway and enrol first.
    ({ h, dir } = await startHouseholdHarness({ from: FROM, to: TO, leadSeconds: 45 }));
    codesFile = path.join(dir, 'enrolment-codes.json');
  }, 120_000);

  afterAll(async () => {
    for (const l of listeners) l.kill('SIGTERM');
    await h?.close();
  });

  it('refuses a wrong code, enrols with the right one, then streams exactly its readings', async () => {
    const code = await issueCode(h, meter.id);
    expect(readFileSync(codesFile, 'utf8')).not.toContain(code.replace(/-/g, ''));

    const gateway = h.spawn();
    const log = () => h.log();
    await h.waitStarted();

    const key = path.join(dir, 'household.key.json');
    const made2 = await customer(['keygen', '--key', key]);
    expect(made2.code, made2.stderr).toBe(0);
    const fingerprint = /fingerprint: (.+)$/m.exec(made2.stdout)![1]!;
    const common = ['--key', key, '--broker', h.broker.url, '--gateway', GATEWAY_ID, '--meter', meter.id];

    const wrong = await customer(['enrol', ...common, '--code', 'AAAA-BBBB-CCCC-DDDD']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('ENROLMENT_REFUSED');
    expect(wrong.stderr).toContain('wrong enrolment code');

    // Pinned to the gateway's key as the installer gives it (the gateway logs its fingerprint at start): a reply
    // signed by any other key is refused by the tool.
    const gatewayFingerprint = /"gatewayFingerprint":"([0-9a-f]{32})"/.exec(log())![1]!;
    const impostor = await customer([
      ...['enrol', ...common, '--code', 'AAAA-BBBB-CCCC-DDDD', '--gateway-fingerprint', '0'.repeat(32)],
    ]);
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toContain('not your gateway');

    const enrolled = await customer([
      ...['enrol', ...common, '--code', code.toLowerCase(), '--gateway-fingerprint', gatewayFingerprint],
    ]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.stdout).toContain(`your key's fingerprint:    ${fingerprint}`);

    // Another household's key on the same stream (its enrolment file copied): it must open nothing.
    const stranger = path.join(dir, 'stranger.key.json');
    expect((await customer(['keygen', '--key', stranger])).code).toBe(0);
    copyFileSync(`${key}.enrolment.json`, `${stranger}.enrolment.json`);

    const mine = listen(key);
    const theirs = listen(stranger);
    listeners.push(mine.child, theirs.child);
    await waitFor(
      () => mine.err().includes('waiting for readings') && theirs.err().includes('waiting'),
      30_000,
    );

    // The 24 readings of the half-day window, each exactly as in the CSV.
    const rows = h.scenario.rows.filter((r) => r.household === meter.household);
    expect(rows).toHaveLength(24);
    await waitFor(() => mine.out().trim().split('\n').length >= rows.length, 90_000, 'every live reading');
    const lines = mine
      .out()
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    const expected = rows.map((r) => [isoUtc(r.end - HALF_HOUR), isoUtc(r.end), String(r.wh), 'Wh']);
    expect(lines).toEqual(expected);
    // The other key got the same messages (its tool may print its last refusal a moment later) and opened none.
    const refusals = () => theirs.err().match(/does not open with this key: \[SEAL_INVALID\]/g)?.length ?? 0;
    await waitFor(() => refusals() >= rows.length, 30_000, "the other key's refusals");
    expect(theirs.out()).toBe('');
    // History: the same readings, kept on the gateway sealed, opened by the household's tool.
    const csv = await customer(['history', '--key', key, '--from', FROM, '--to', TO, '--csv']);
    expect(csv.code, csv.stderr).toBe(0);
    expect(csv.stdout.trim().split('\n')).toEqual([
      'start,end,wh',
      ...rows.map((r) => `${isoUtc(r.end - HALF_HOUR)},${isoUtc(r.end)},${r.wh}`),
    ]);
    // The other household's key is not the enrolled one: refused.
    const foreign = await customer(['history', '--key', stranger, '--from', FROM, '--to', TO]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain('SIGNATURE_INVALID');

    // Transparency: what the gateway reads, sends upstream and keeps, for this household.
    const info = await customer(['info', '--key', key]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`Meter ${meter.id} of gateway ${GATEWAY_ID}, your key ${fingerprint}`);
    expect(info.stdout).toContain(`neighbourhood "${meter.neighbourhood}", and only when`);
    expect(info.stdout).toContain('at least 5 meters');
    expect(info.stdout).toContain(`for account "${meter.account}"`);
    expect(info.stdout).toContain(`${rows.length} readings,`);
    expect(info.stdout).toContain('Third parties with access: none');

    // Erase: the history is deleted from the database file itself (after its checkpoint and vacuum).
    const db = new Database(h.scenario.dbFile, { readonly: true });
    const sample = (db.prepare('SELECT sealed FROM customer_history LIMIT 1').get() as { sealed: string })
      .sealed;
    db.close();
    const erased = await customer(['erase', '--key', key]);
    expect(erased.code, erased.stderr).toBe(0);
    expect(erased.stdout).toContain('deleted 24 of your readings');
    const after = await customer(['history', '--key', key, '--from', FROM, '--to', TO, '--csv']);
    expect(after.stdout.trim()).toBe('start,end,wh');
    for (const file of [h.scenario.dbFile, `${h.scenario.dbFile}-wal`]) {
      const bytes = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
      expect(bytes.includes(Buffer.from(sample.slice(0, 40))), file).toBe(false);
    }

    // A code enrols once: the same code does not enrol another key (a previous tenant's paper is worthless).
    const other = path.join(dir, 'other.key.json');
    expect((await customer(['keygen', '--key', other])).code).toBe(0);
    const reuse = await customer(['enrol', ...common.map((a) => (a === key ? other : a)), '--code', code]);
    expect(reuse.code).toBe(1);
    expect(reuse.stderr).toContain('this enrolment code has been used');

    // A new code for the meter (a new occupant) revokes the household enrolled with the old one.
    expect(await issueCode(h, meter.id)).not.toBe(code);
    await waitFor(
      () => log().includes('"why":"a new enrolment code was issued for the meter"'),
      30_000,
      'the revocation',
    );
    const revoked = await customer(['info', '--key', key]);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toContain('no household is enrolled');

    // The gateway logged the enrolment with the same fingerprint.
    expect(log()).toContain(`"fingerprint":"${fingerprint}"`);
    expect(gateway.child.exitCode).toBeNull();
  }, 240_000);
});
