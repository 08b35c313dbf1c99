/**
 * The intake on a real SQLite buffer and a real 2048-bit Paillier key: every kind of bad reading is refused
 * under its code and counted, and the gateway's clock is not trusted blindly — a reading that ends after it (a
 * Pi whose clock NTP has not set yet) is encrypted and held, survives a restart, and enters the buffer when the
 * clock reaches it.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Intake } from '../../../gateway/acquire/intake.ts';
import { TariffBands } from '../../../gateway/acquire/tariff.ts';
import { BufferStore } from '../../../gateway/buffer/buffer.ts';
import type { MeterConfig } from '../../../gateway/config/schema.ts';
import { fromBytes } from '../../../gateway/encrypt/bigint.ts';
import { createEngine } from '../../../gateway/encrypt/engine.ts';
import { layoutFor, unpack } from '../../../gateway/encrypt/packing.ts';
import { ReadingEncryptor } from '../../../gateway/encrypt/reading-encryptor.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { billingPeriodOf } from '../../../gateway/time/periods.ts';
import { decrypt } from '../../../scripts/lib/mdms/decrypt.ts';
import { openTestBuffer, tempBufferFile } from '../../helpers/buffer.ts';
import { RELEASE_BOUNDS } from '../../helpers/packing.ts';

const I = 15 * 60_000;
const DAY = 86_400_000;
const T0 = Date.parse('2024-05-10T12:00:00Z');
const METERS: MeterConfig[] = [
  { id: 'm1', neighbourhood: 'n', account: 'a1', source: { driver: 'replay', household: '1' } },
  { id: 'm2', neighbourhood: 'n', account: 'a2', source: { driver: 'replay', household: '2' } },
];

let key: PaillierPrivateKey;
beforeAll(async () => {
  key = await generatePaillier(2048);
});

const buffers: BufferStore[] = [];
afterEach(() => {
  for (const b of buffers.splice(0)) b.close();
});

function setup(file = tempBufferFile('intake-'), now = T0) {
  const metrics = new Metrics();
  const buffer = openTestBuffer(key.publicKey.n2, metrics, { file });
  buffers.push(buffer);
  const layout = layoutFor(LAYOUT_BOUNDS);
  const bands = new TariffBands([{ name: 'all', windows: ['00:00-24:00'] }], 'UTC');
  const clock = new ManualClock(now);
  const intake = new Intake(
    {
      meters: METERS,
      intervalMs: I,
      maxWhPerReading: 20_000,
      maxReadingAgeMs: 2 * DAY,
      billingPeriodOf: (ms) => billingPeriodOf(ms, 'monthly', 'UTC'),
      bandOf: (ms) => bands.bandAt(ms),
      billingGraceMs: 60 * 60_000,
      maxHeldReadings: 3,
    },
    key.publicKey,
    clock,
    new ReadingEncryptor(createEngine('native', key.publicKey), layout, bands),
    buffer,
    metrics,
    silentLogger(),
  );
  const stored = (meterId: string) =>
    buffer.db
      .prepare('SELECT interval_start AS start, ciphertext FROM readings WHERE meter_id = ? ORDER BY 1')
      .all(meterId)
      .map((r) => {
        const row = r as { start: number; ciphertext: Buffer };
        return [row.start, unpack(layout, decrypt(key, fromBytes(row.ciphertext)), layout.releaseShift)[0]];
      });
  return { intake, buffer, metrics, clock, file, stored };
}

const LAYOUT_BOUNDS = {
  maxWhPerReading: 20_000,
  maxAddends: 1000,
  bands: ['all'],
  modulusBits: 2048,
  ...RELEASE_BOUNDS,
};

const reading = (meterId: string, start: number, wh: number) => ({ meterId, start, end: start + I, wh });

describe('Intake', () => {
  it('encrypts and stores good readings in one commit per turn', () => {
    const s = setup();
    s.intake.accept(reading('m1', T0 - 2 * I, 100));
    s.intake.accept(reading('m1', T0 - I, 150));
    s.intake.accept(reading('m2', T0 - I, 7));
    s.intake.flush();
    expect(s.stored('m1')).toEqual([
      [T0 - 2 * I, 100n],
      [T0 - I, 150n],
    ]);
    expect(s.stored('m2')).toEqual([[T0 - I, 7n]]);
    expect(s.metrics.get('readings.accepted')).toBe(3);
  });

  it('refuses each kind of bad reading under its code, and keeps the good ones beside them', () => {
    const s = setup();
    s.intake.accept(reading('nobody', T0 - I, 1));
    s.intake.accept({ meterId: 'm1', start: T0 - I + 60_000, end: T0 + 60_000, wh: 1 }); // misaligned
    s.intake.accept({ meterId: 'm1', start: T0 - 2 * I, end: T0, wh: 1 }); // two intervals
    s.intake.accept(reading('m1', T0 - I, 20_001));
    s.intake.accept(reading('m1', T0 - I, -1));
    s.intake.accept(reading('m1', T0 - I, 1.5));
    s.intake.accept(reading('m1', T0 - 3 * DAY, 1));
    s.intake.accept(reading('m2', T0 - I, 5));
    s.intake.flush();
    s.intake.accept(reading('m2', T0 - I, 5)); // the same interval again
    s.intake.accept(reading('m2', T0 - 2 * I, 5)); // an older one
    s.intake.flush();
    const rejected = (code: string) => s.metrics.get(`readings.rejected.${code}`);
    expect(rejected('READING_UNKNOWN_METER')).toBe(1);
    expect(rejected('READING_BAD_INTERVAL')).toBe(2);
    expect(rejected('READING_OUT_OF_BOUNDS')).toBe(3);
    expect(rejected('READING_TOO_OLD')).toBe(1);
    expect(rejected('READING_DUPLICATE')).toBe(2);
    expect(s.stored('m2')).toEqual([[T0 - I, 5n]]);
    expect(s.stored('m1')).toEqual([]);
  });

  it("delivers a reading's sealed copies only once it is committed or held: a refused one is not streamed", () => {
    const s = setup();
    const delivered: string[] = [];
    s.intake.streamTo((r) => () => delivered.push(`${r.meterId}@${r.start}`));
    // The same interval twice in one turn: both pass the early checks, the store refuses the second (or, when
    // encryption is slow enough for the first to be committed already, the early check does).
    s.intake.accept(reading('m2', T0 - I, 5));
    s.intake.accept(reading('m2', T0 - I, 6));
    s.intake.accept(reading('m1', T0 - I, 10));
    s.intake.flush();
    expect(s.metrics.get('readings.rejected.READING_DUPLICATE')).toBe(1);
    expect(delivered).toEqual([`m2@${T0 - I}`, `m1@${T0 - I}`]);
    // Held (ahead of the gateway's clock): accepted, so delivered at once.
    s.intake.accept(reading('m1', T0 + 3_600_000, 3));
    expect(delivered).toHaveLength(3);
    // Refused at intake: never delivered.
    s.intake.accept(reading('m1', T0 - 3 * DAY, 1));
    s.intake.flush();
    expect(delivered).toHaveLength(3);
  });

  it('holds a reading from ahead of the gateway clock and stores it once the clock reaches it', () => {
    const s = setup();
    // The gateway's clock is three hours behind the meter's.
    const ahead = T0 + 3 * 3_600_000;
    s.intake.accept(reading('m1', ahead - I, 40));
    s.intake.accept(reading('m1', ahead, 41));
    s.intake.flush();
    expect(s.metrics.get('readings.held')).toBe(2);
    expect(s.metrics.get('readings.rejected.READING_FROM_FUTURE')).toBe(0);
    expect(s.stored('m1')).toEqual([]);
    // Held as ciphertexts only.
    const held = s.buffer.db.prepare('SELECT * FROM held_readings ORDER BY interval_start').all() as {
      ciphertext: Buffer;
    }[];
    expect(held).toHaveLength(2);
    expect(
      unpack(
        layoutFor(LAYOUT_BOUNDS),
        decrypt(key, fromBytes(held[0]!.ciphertext)),
        layoutFor(LAYOUT_BOUNDS).releaseShift,
      )[0],
    ).toBe(40n);
    // The same interval delivered again while held is kept once.
    s.intake.accept(reading('m1', ahead, 41));
    expect(s.metrics.get('readings.rejected.READING_DUPLICATE')).toBe(1);

    expect(s.intake.releaseHeld()).toBe(0); // not yet
    s.clock.set(ahead + I);
    expect(s.intake.releaseHeld()).toBe(2);
    s.intake.flush();
    expect(s.stored('m1')).toEqual([
      [ahead - I, 40n],
      [ahead, 41n],
    ]);
    expect(s.buffer.held.summary().count).toBe(0);
    expect(s.metrics.get('readings.held_released')).toBe(2);
    expect(s.buffer.readings.cursor('m1')).toBe(ahead);
  });

  it('keeps held readings across a restart and releases them to the new process', () => {
    const first = setup();
    const ahead = T0 + 5 * 3_600_000;
    first.intake.accept(reading('m2', ahead, 9));
    first.intake.flush();
    first.buffer.close();
    const again = setup(first.file, ahead + I);
    expect(again.intake.releaseHeld()).toBe(1);
    again.intake.flush();
    expect(again.stored('m2')).toEqual([[ahead, 9n]]);
  });

  it('refuses a reading further ahead than maxReadingAgeDays, and holds no more than the limit', () => {
    const s = setup();
    s.intake.accept(reading('m1', T0 + 3 * DAY, 1));
    expect(s.metrics.get('readings.rejected.READING_FROM_FUTURE')).toBe(1);
    for (let i = 1; i <= 4; i++) s.intake.accept(reading('m2', T0 + i * 3_600_000, i));
    expect(s.metrics.get('readings.held')).toBe(3);
    expect(s.metrics.get('readings.rejected.READING_HOLD_FULL')).toBe(1);
  });

  it('drops a held reading that its release finds already superseded (a later one was stored)', () => {
    const s = setup();
    const ahead = T0 + 3_600_000;
    s.intake.accept(reading('m1', ahead, 1));
    s.clock.set(ahead + 2 * I);
    // A later interval arrives (e.g. another driver) before the tick releases the held one.
    s.intake.accept(reading('m1', ahead + I, 2));
    s.intake.flush();
    expect(s.intake.releaseHeld()).toBe(1);
    s.intake.flush();
    expect(s.metrics.get('readings.rejected.READING_DUPLICATE')).toBe(1);
    expect(s.buffer.held.summary().count).toBe(0);
    expect(s.stored('m1')).toEqual([[ahead + I, 2n]]);
  });
});
