/**
 * A household shares its data with a third party, end to end with the real tools, gateway process and Mosquitto:
 * a consent that has already expired and one signed by another key are refused, changing nothing; an hourly
 * consent until 08:00 gives the third party (`scripts/customer receive`, its own key) exactly the hourly sums of
 * the household's real readings from the grant until 08:00 and nothing after; another key on the same topic
 * opens nothing; a revoked consent gets nothing; the household reads back the log, checked, and `info` lists
 * what is in force.
 */
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoUtc } from '../../gateway/time/zoned.ts';
import type { Harness } from '../helpers/harness.ts';
import { customer, issueCode, spawnCustomer, startHouseholdHarness } from '../helpers/household.ts';
import { GATEWAY_ID, TEST_METERS, waitFor } from '../helpers/scenario.ts';

const FROM = '2012-10-09T00:00:00Z';
const TO = '2012-10-09T12:00:00Z';
const UNTIL = '2012-10-09T08:00:00Z';
const HOUR = 3_600_000;

const receiver = (args: string[]) => spawnCustomer(['receive', '--csv', ...args]);

describe('a household consents to a third party', () => {
  let h: Harness;
  let dir: string;
  const meter = TEST_METERS[0]!;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // Set up while the data clock is 150 data hours before the data (after 2012-10-01, so that a consent until
    // then is expired), however long that takes on a starved machine; then the gateway restarts for the data.
    ({ h, dir } = await startHouseholdHarness({ from: FROM, to: TO, leadSeconds: 300 }));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGTERM');
    await h?.close();
  });

  it('refuses an expired consent and a foreign signature, then the third party gets exactly the hourly sums', async () => {
    const code = await issueCode(h, meter.id);
    const first = h.spawn();
    const log = () => (existsSync(h.scenario.logFile) ? readFileSync(h.scenario.logFile, 'utf8') : '');
    const started = (n: number) => log().split('"msg":"started"').length > n;
    await waitFor(() => started(1), 60_000, 'the gateway to start', first.output);

    // Everything on the broker, from before the household's first request: what its operator could read.
    const sniffer = await mqtt.connectAsync(h.broker.url, { clientId: 'sniffer' });
    const seen: string[] = [];
    sniffer.on('message', (_t, payload) => seen.push(payload.toString('utf8')));
    await sniffer.subscribeAsync('#', { qos: 1 });

    const key = path.join(dir, 'household.key.json');
    expect((await customer(['keygen', '--key', key])).code).toBe(0);
    const enrolled = await customer([
      ...['enrol', '--key', key, '--broker', h.broker.url, '--gateway', GATEWAY_ID, '--meter', meter.id],
      ...['--code', code],
    ]);
    expect(enrolled.code, enrolled.stderr).toBe(0);

    // The third party makes its own keys and gives the household its public key.
    const coachKey = path.join(dir, 'coach.key.json');
    expect((await customer(['keygen', '--key', coachKey])).code).toBe(0);
    const pub = await customer(['public-key', '--key', coachKey]);
    const granteeKey = /--grantee-key=(\S+)/.exec(pub.stdout)![1]!;
    const grant = (keyFile: string, ...extra: string[]) =>
      customer([
        ...['consent', 'grant', '--key', keyFile, '--name', 'Energy coach', `--grantee-key=${granteeKey}`],
        ...extra,
      ]);

    // Refused, each with its code: a consent already over, and one signed by a key that is not the household's.
    const expired = await grant(key, '--granularity', 'hourly', '--until', '2012-10-01T00:00:00Z');
    expect(expired.code).toBe(1);
    expect(expired.stderr).toContain('CONSENT_EXPIRED');
    const stranger = path.join(dir, 'stranger.key.json');
    expect((await customer(['keygen', '--key', stranger])).code).toBe(0);
    copyFileSync(`${key}.enrolment.json`, `${stranger}.enrolment.json`);
    const foreign = await grant(stranger, '--granularity', 'hourly', '--until', UNTIL);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain('SIGNATURE_INVALID');
    const empty = await customer(['consent', 'log', '--key', key]);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toContain('chain of 0 entries checked');
    expect(empty.stdout).toContain('no consent in force');

    const granted = await grant(key, '--granularity', 'hourly', '--until', UNTIL);
    expect(granted.code, granted.stderr).toBe(0);
    const topic = /--topic=(\S+)/.exec(granted.stdout)![1]!;
    const gatewayKey = /--gateway-key=(\S+)/.exec(granted.stdout)![1]!;
    expect(topic).not.toContain(meter.id);
    // A second consent, revoked at once: its third party must receive nothing.
    const other = await grant(key, '--granularity', 'daily', '--until', TO);
    expect(other.code, other.stderr).toBe(0);
    const otherId = /^consent ([0-9a-f]{20})/m.exec(other.stdout)![1]!;
    const otherTopic = /--topic=(\S+)/.exec(other.stdout)![1]!;
    const revoked = await customer(['consent', 'revoke', '--key', key, '--id', otherId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const again = await customer(['consent', 'revoke', '--key', key, '--id', otherId]);
    expect(again.stderr).toContain('CONSENT_UNKNOWN');

    // Transparency: info lists the consent in force (the data clock is still before its end).
    const info = await customer(['info', '--key', key]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(`"Energy coach" (key `);
    expect(info.stdout).toContain(`hourly sums from`);
    expect(info.stdout).toContain(`until ${UNTIL.replace('Z', '.000Z')}`);

    // As the household's tool printed them: `--option=value` (a raw key may begin with '-').
    const connect = ['--broker', h.broker.url, `--gateway-key=${gatewayKey}`];
    const coach = receiver(['--key', coachKey, '--topic', topic, ...connect]);
    const eavesdropper = receiver(['--key', stranger, '--topic', topic, ...connect]);
    const revokedParty = receiver(['--key', coachKey, '--topic', otherTopic, ...connect]);
    children.push(coach.child, eavesdropper.child, revokedParty.child);
    await waitFor(
      () => [coach, eavesdropper, revokedParty].every((r) => r.err().includes('waiting')),
      30_000,
    );
    // The data now: the gateway restarts with its clock anchored a moment from now.
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const config = parse(readFileSync(h.scenario.configFile, 'utf8')) as { clock: { anchor: string } };
    config.clock.anchor = new Date(Date.now() + 10_000).toISOString();
    writeFileSync(h.scenario.configFile, stringify(config));
    const gateway = h.spawn();
    await waitFor(() => started(2), 60_000, 'the gateway to start again', gateway.output);

    // The hours from the start of the data (after the grant) to 08:00, each the sum of its two CSV readings.
    const rows = h.scenario.rows.filter((r) => r.household === meter.household);
    const hours = Array.from({ length: 8 }, (_, i) => Date.parse(FROM) + i * HOUR);
    const expected = hours.map((start) => {
      const wh = rows.filter((r) => r.end > start && r.end <= start + HOUR).reduce((a, r) => a + r.wh, 0);
      return `hourly,${isoUtc(start)},${isoUtc(start + HOUR)},${wh},60`;
    });
    const sums = () => coach.out().trim().split('\n').slice(1).filter(Boolean);
    await waitFor(
      () => sums().length >= expected.length,
      90_000,
      'the hourly sums',
      () =>
        `${coach.out()}\n${coach.err()}\n${log()
          .split('\n')
          .filter((l) => l.includes('shared'))
          .join('\n')}`,
    );
    // Nothing after the consent's end, though the data runs to 12:00: wait until the household has all 24
    // readings in its history (so the gateway has read them all), then a little longer for stragglers.
    for (let tries = 0; ; tries++) {
      const history = await customer(['history', '--key', key, '--from', FROM, '--to', TO, '--csv']);
      if (history.stdout.trim().split('\n').length - 1 >= rows.length) break;
      if (tries > 60) throw new Error(`the gateway did not read the whole day: ${history.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(sums()).toEqual(expected);
    expect(eavesdropper.out().trim()).toBe('granularity,start,end,wh,minutes');
    expect(eavesdropper.err()).toContain('[SEAL_INVALID]');
    expect(revokedParty.out().trim()).toBe('granularity,start,end,wh,minutes');
    expect(revokedParty.err()).not.toContain('ignored');

    // The household reads the log back, checked: grant, grant, revoke; and info lists the consent.
    const logged = await customer(['consent', 'log', '--key', key]);
    expect(logged.code, logged.stderr).toBe(0);
    expect(logged.stdout).toMatch(/ 0 .* grant, signed by this key/);
    expect(logged.stdout).toMatch(new RegExp(` 2 .* ${otherId}  revoke, signed by this key`));
    expect(logged.stdout).toContain('chain of 3 entries checked');
    // Requests and replies went sealed: the broker saw neither the meter a request names, nor the household's
    // keys, nor whom it shares with.
    await sniffer.endAsync();
    const householdKeys = JSON.parse(readFileSync(key, 'utf8')) as {
      sealing: { x: string };
      signing: { x: string };
    };
    expect(seen.length).toBeGreaterThan(50);
    for (const secret of [
      '"meterId"',
      'Energy coach',
      householdKeys.sealing.x,
      householdKeys.signing.x,
      granteeKey,
    ]) {
      expect(seen.filter((m) => m.includes(secret)).length, secret).toBe(0);
    }
    expect(gateway.child.exitCode).toBeNull();
  }, 240_000);
});
