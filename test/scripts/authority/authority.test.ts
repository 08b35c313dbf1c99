/**
 * The privacy authority's decisions on real ciphertexts and gateway-signed batches: it co-decrypts releases and
 * closed bills that its own rules allow, refuses a forged batch, an aggregate below k, a raw reading ciphertext,
 * a suppressed group and a record replayed with other content — each with its code — answers a replay of the
 * same content the same way, and logs every decision in a chain that detects tampering.
 */
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../../gateway/encrypt/bigint.ts';
import { decodeRelease, packReading, unpack } from '../../../gateway/encrypt/packing.ts';
import { signEnvelope, type Sealed } from '../../../gateway/protocol/envelope.ts';
import { Authority } from '../../../scripts/lib/authority/authority.ts';
import type { CodecryptReplyMsg } from '../../../scripts/lib/authority/messages.ts';
import {
  openAuthorityDb,
  readLogRows,
  verifyTransparencyLog,
} from '../../../scripts/lib/authority/transparency-log.ts';
import { combinePartials, partialDecrypt } from '../../../scripts/lib/split-key/shares.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { runCli } from '../../helpers/run-cli.ts';
import {
  makeSplitRig,
  SPLIT_ETA,
  SPLIT_GATEWAY,
  splitLayout,
  splitNoise,
  type SplitRig,
} from '../../helpers/split-rig.ts';

const AUTHORITY = path.resolve(import.meta.dirname, '../../../scripts/authority');

describe('privacy authority', () => {
  let rig: SplitRig;
  let requests = 0;

  beforeAll(async () => {
    rig = await makeSplitRig();
  });

  function ask(batch: Sealed | string, records: string[], authority: Authority = rig.authority) {
    const body = {
      v: 1,
      type: 'codecrypt-request',
      id: `req-${++requests}`,
      gateway: SPLIT_GATEWAY,
      batch: typeof batch === 'string' ? batch : batch.message,
      records,
    };
    return authority.handle(signEnvelope(body, rig.mdms.privateKey, rig.mdms.publicKey).message);
  }
  /** A record without some fields: an aggregate as a pre-noise gateway (contract v1) signed it. */
  const without = (record: object, ...keys: string[]) =>
    Object.fromEntries(Object.entries(record).filter(([key]) => !keys.includes(key)));
  const codes = (reply: CodecryptReplyMsg) => reply.results.map((r) => (r.ok ? 'ok' : r.code));
  const openWith = (reply: CodecryptReplyMsg, id: string, ciphertext: string) => {
    const r = reply.results.find((x) => x.id === id);
    if (!r?.ok) throw new Error(`${id} refused`);
    const c = BigInt(`0x${ciphertext}`);
    return combinePartials(rig.supplier.publicKey, [
      partialDecrypt(rig.supplier, c),
      BigInt(`0x${r.partial}`),
    ]);
  };

  it('co-decrypts a noisy aggregate of at least k meters: with the supplier share it opens exactly', () => {
    const agg = rig.aggregate('agg:1', 6, 1200, 34);
    const reply = ask(rig.batch([agg]), ['agg:1']);
    expect(codes(reply)).toEqual(['ok']);
    const m = openWith(reply, 'agg:1', agg.ciphertext);
    // The release field: the clipped sum plus the record's η; the masked slots below it say nothing.
    expect(decodeRelease(m, agg.release, BigInt(agg.noise.offset))).toBe(1234n + SPLIT_ETA);
  });

  it('refuses a forged batch and a batch of a gateway it does not trust', () => {
    const stranger = generateKeyPairSync('ed25519');
    expect(codes(ask(rig.batch([rig.aggregate('agg:f', 6, 1, 1)], stranger), ['agg:f']))).toEqual([
      'SIGNATURE_INVALID',
    ]);
    const other = JSON.parse(rig.batch([rig.aggregate('agg:u', 6, 1, 1)]).message) as { body: string };
    const tampered = {
      ...(JSON.parse(rig.batch([]).message) as Record<string, unknown>),
      body: other.body.replace('"meters":6', '"meters":7'),
    };
    expect(codes(ask(JSON.stringify(tampered), ['agg:u']))).toEqual(['SIGNATURE_INVALID']);
    const foreign = signEnvelope(
      {
        body: 'x',
      },
      stranger.privateKey,
      stranger.publicKey,
    );
    const body = {
      v: 1,
      type: 'codecrypt-request',
      id: 'req-unknown',
      gateway: 'gw-other',
      batch: foreign.message,
      records: ['a'],
    };
    const reply = rig.authority.handle(signEnvelope(body, rig.mdms.privateKey, rig.mdms.publicKey).message);
    expect(codes(reply)).toEqual(['UNKNOWN_SENDER']);
  });

  it('refuses an aggregate below its own k even when the gateway states a lower k', () => {
    const reply = ask(
      rig.batch([rig.aggregate('agg:small', 4, 10, 10, 3), rig.aggregate('agg:ok', 5, 1, 2)]),
      ['agg:small', 'agg:ok'],
    );
    expect(codes(reply)).toEqual(['CODECRYPT_BELOW_K', 'ok']);
  });

  it('refuses a raw reading ciphertext, a suppressed group and an id that is not in the batch', () => {
    const reading = {
      kind: 'reading',
      id: 'r:1',
      meter: 'm1',
      ciphertext: toHex(rig.engine.encrypt(packReading(splitLayout, 7n, 0))),
    };
    const suppressed = {
      kind: 'suppressed',
      id: 's:1',
      neighbourhood: 'north',
      intervalStart: '2012-10-10T00:00:00Z',
      intervalEnd: '2012-10-10T00:30:00Z',
      reason: 'below-k',
      k: 5,
    };
    const reply = ask(rig.batch([reading, suppressed]), ['r:1', 's:1', 'nope']);
    expect(codes(reply)).toEqual([
      'CODECRYPT_NOT_RELEASABLE',
      'CODECRYPT_NOT_RELEASABLE',
      'CODECRYPT_UNKNOWN_RECORD',
    ]);
  });

  it('co-decrypts a bill of a closed period of at least a day, and refuses an open or short one', () => {
    const bill = (id: string, start: string, end: string) => rig.bill(id, start, end);
    const closed = bill('bill:1', '2026-01-30T00:00:00Z', '2026-01-31T00:00:00Z');
    const reply = ask(
      rig.batch([
        closed,
        bill('bill:open', '2026-01-31T00:00:00Z', '2026-02-01T00:00:01Z'),
        bill('bill:short', '2026-01-30T00:00:00Z', '2026-01-30T12:00:00Z'),
      ]),
      ['bill:1', 'bill:open', 'bill:short'],
    );
    expect(codes(reply)).toEqual(['ok', 'CODECRYPT_PERIOD_SHORT', 'CODECRYPT_PERIOD_SHORT']);
    const m = openWith(reply, 'bill:1', closed.ciphertext);
    expect(unpack(splitLayout, m, splitLayout.releaseShift)).toEqual([30n, 10n, 20n]);
  });

  it('answers a replay of the same record the same way, and refuses the same id with other content', () => {
    const agg = rig.aggregate('agg:replay', 7, 100, 200);
    const batch = rig.batch([agg]);
    const first = ask(batch, ['agg:replay']);
    const again = ask(batch, ['agg:replay']);
    expect(again.results).toEqual(first.results);
    const changed = ask(rig.batch([rig.aggregate('agg:replay', 7, 100, 201)]), ['agg:replay']);
    expect(codes(changed)).toEqual(['CODECRYPT_CONFLICT']);
  });

  it('requires stated noise by default, at least its own minimum σ² (exact rationals) and at most its ε', async () => {
    const sigma2 = splitNoise.sigma2;
    const strict = await makeSplitRig({
      minK: 5,
      minBillingDays: 1,
      // Exactly the rig's σ²: it passes; one part in 10¹⁵ more is above any float's resolution and refuses.
      requireNoise: { minSigma2: sigma2, maxEpsilonPerDay: 1000 },
    });
    const askStrict = (r: SplitRig, records: unknown[], ids: string[]) =>
      r.authority.handle(
        signEnvelope(
          {
            v: 1,
            type: 'codecrypt-request',
            id: ids.join('-'),
            gateway: SPLIT_GATEWAY,
            batch: r.batch(records).message,
            records: ids,
          },
          r.mdms.privateKey,
          r.mdms.publicKey,
        ).message,
      );
    const noisy = strict.aggregate('a', 9, 1, 1);
    const exact = without(strict.aggregate('b', 9, 1, 1), 'v', 'release', 'noise');
    const looser = { ...strict.aggregate('c', 9, 1, 1) };
    looser.noise = { ...looser.noise, epsilonPerDay: 1001 };
    expect(codes(askStrict(strict, [noisy, exact, looser], ['a', 'b', 'c']))).toEqual([
      'ok',
      'CODECRYPT_NO_NOISE',
      'CODECRYPT_NO_NOISE',
    ]);
    const tighter = await makeSplitRig({
      minK: 5,
      minBillingDays: 1,
      requireNoise: { minSigma2: { num: sigma2.num * 10n ** 15n + 1n, den: sigma2.den * 10n ** 15n } },
    });
    expect(codes(askStrict(tighter, [tighter.aggregate('a', 9, 1, 1)], ['a']))).toEqual([
      'CODECRYPT_NO_NOISE',
    ]);
    // Opted out (--allow-no-noise): no minimum; a record without noise is still outside contract v2.
    const lax = await makeSplitRig({ minK: 5, minBillingDays: 1 });
    const bare = without(lax.aggregate('b', 9, 1, 1), 'noise');
    expect(codes(askStrict(lax, [lax.aggregate('a', 9, 1, 1), bare], ['a', 'b']))).toEqual([
      'ok',
      'CODECRYPT_NOT_RELEASABLE',
    ]);
  });

  it('answers only signed requests of its MDMS', () => {
    const stranger = generateKeyPairSync('ed25519');
    const body = {
      v: 1,
      type: 'codecrypt-request',
      id: 'x',
      gateway: SPLIT_GATEWAY,
      batch: rig.batch([rig.aggregate('agg:x', 6, 1, 1)]).message,
      records: ['agg:x'],
    };
    expectCode('SIGNATURE_INVALID', () =>
      rig.authority.handle(signEnvelope(body, stranger.privateKey, stranger.publicKey).message),
    );
  });

  it('logs every decision in a verifiable chain, append-only, and names a tampered line', async () => {
    const decisions = verifyTransparencyLog(readLogRows(rig.log.db));
    expect(decisions.length).toBe(15);
    expect(decisions.filter((d) => d.decision === 'accepted').map((d) => d.record)).toEqual([
      'agg:1',
      'agg:ok',
      'bill:1',
      'agg:replay',
      'agg:replay',
    ]);
    expect(decisions.find((d) => d.record === 'agg:small')).toMatchObject({
      decision: 'refused',
      code: 'CODECRYPT_BELOW_K',
    });
    expect(() => rig.log.db.prepare('UPDATE decisions SET entry = entry WHERE idx = 0').run()).toThrow(
      /append-only/,
    );
    expect(() => rig.log.db.prepare('DELETE FROM decisions WHERE idx = 0').run()).toThrow(/append-only/);

    const ok = await runCli(AUTHORITY, ['log', '--verify', '--db', rig.dbFile]);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain('verified: 15 decisions, chain intact');
    expect(ok.stdout.split('\n').filter((l) => l.includes('\taccepted\t'))).toHaveLength(5);

    // Whoever holds the file can drop the trigger; the chain still gives them away.
    const db = openAuthorityDb(rig.dbFile);
    db.exec('DROP TRIGGER decisions_append_only_update');
    db.prepare(
      "UPDATE decisions SET entry = replace(entry, 'CODECRYPT_BELOW_K', 'CODECRYPT_BELOW_X') WHERE idx = 4",
    ).run();
    db.close();
    const bad = await runCli(AUTHORITY, ['log', '--verify', '--db', rig.dbFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('[TRANSPARENCY_LOG_INVALID]');
    expect(bad.stderr).toContain('line 4');
  });
});
