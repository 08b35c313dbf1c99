/**
 * The MQTT meter driver as the gateway builds it (build-mqtt.ts from a validated config), subscribed to a real
 * Mosquitto broker process, with a second real client publishing as the meters would: a Tasmota plug, a bridge
 * sending the generic JSON, and a meter that seals (encrypts and signs) its own readings. Checked at the driver's
 * outputs: Readings (exact Wh), sealed readings and metrics.
 *
 * Every payload is waited for by its effect on the counters (the driver counts each delivered payload once, as
 * `driver.mqtt.payloads`, `driver.mqtt.sealed` or `driver.mqtt.rejected.<code>`), never by sleeping. The driver's
 * subscription is observed as the broker's SUBACK on the driver's own client (the injected connect function).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { buildMqttDriver, METER_BROKER_MAX_PACKET_BYTES } from '../../../drivers/mqtt/build-mqtt.ts';
import type { MqttMeterDriver } from '../../../drivers/mqtt/mqtt-meter-driver.ts';
import type { Reading, SealedReadingIn } from '../../../gateway/acquire/reading.ts';
import { validateConfig } from '../../../gateway/config/load.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../../gateway/protocol/envelope.ts';
import { ManualClock } from '../../../gateway/time/clock.ts';
import { driverContext } from '../../helpers/driver-context.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { waitFor } from '../../helpers/wait.ts';
import { LAYOUT_40 } from '../../helpers/packing.ts';

const I = 15 * 60_000;
const T0 = Date.parse('2024-03-01T11:00:00Z'); // 12:00 in Amsterdam
const WAIT_MS = 20_000;
const PLUG = 'tele/plug-1/SENSOR';
const BRIDGE = 'meters/bridge-2/state';
const SEALED = 'meters/sealed-3/reading';
const LAYOUT = LAYOUT_40;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(): Promise<Mosquitto> {
  const b = await startMosquitto();
  cleanups.push(() => b.stop());
  return b;
}

/** A client publishing as the meters do (QoS 1 to the broker, so a publish resolves once the broker has it). */
async function meters(url: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId: `test-meters-${process.pid}`, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

function meterKey(): { keys: { privateKey: KeyObject; publicKey: KeyObject }; pemFile: string } {
  const keys = generateKeyPairSync('ed25519');
  const dir = mkdtempSync(path.join(tmpdir(), 'mqtt-meter-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const pemFile = path.join(dir, 'meter.ed25519.pub.pem');
  writeFileSync(pemFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  return { keys, pemFile };
}

function startDriver(url: string, sealedKeyFile: string) {
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { mqtt: { url, timezone: 'Europe/Amsterdam' } },
    neighbourhoods: [{ id: 'n' }],
    meters: [
      {
        id: 'plug',
        neighbourhood: 'n',
        account: 'a1',
        source: { driver: 'mqtt', topic: PLUG, format: 'tasmota' },
      },
      {
        id: 'bridge',
        neighbourhood: 'n',
        account: 'a2',
        source: { driver: 'mqtt', topic: BRIDGE, format: 'generic' },
      },
      {
        id: 'sealed',
        neighbourhood: 'n',
        account: 'a3',
        source: { driver: 'mqtt', topic: SEALED, format: 'sealed', publicKey: sealedKeyFile },
      },
    ],
  });
  const metrics = new Metrics();
  const readings: Reading[] = [];
  const sealed: SealedReadingIn[] = [];
  const clock = new ManualClock(T0);
  let subacks = 0;
  const driver = buildMqttDriver(
    config,
    (ms) => driverContext({ meters: ms, readings, clock, intervalMs: I, metrics, sealed }),
    (u, opts) => {
      const client = mqtt.connect(u, opts);
      client.on('packetreceive', (packet) => {
        if (packet.cmd === 'suback') subacks++;
      });
      return client;
    },
    LAYOUT,
  ) as MqttMeterDriver;
  cleanups.push(() => driver.stop());

  const diag = () => JSON.stringify({ subacks, metrics: metrics.snapshot() });
  /** Payloads the driver has taken or refused so far. */
  const handled = () =>
    Object.entries(metrics.snapshot())
      .filter(([k]) => /^driver\.mqtt\.(payloads|sealed|rejected\.)/.test(k))
      .reduce((sum, [, n]) => sum + n, 0);
  const subscribed = async (moreThan = 0) =>
    waitFor(() => subacks > moreThan, WAIT_MS, 'the driver subscribed', diag);
  return { driver, metrics, readings, sealed, clock, diag, handled, subscribed, subacks: () => subacks };
}

type Driven = ReturnType<typeof startDriver>;

/**
 * A broker, a meter key for the sealed meter, the driver started and subscribed, and a client publishing as the
 * meters (connected once the driver is subscribed).
 */
async function subscribedDriver() {
  const b = await broker();
  const meter = meterKey();
  const d = startDriver(b.url, meter.pemFile);
  await d.driver.start();
  await d.subscribed();
  const pub = await meters(b.url);
  return { b, meter, d, pub };
}

/** Publishes one payload and waits until the driver has taken or refused it. */
async function send(d: Driven, client: MqttClient, topic: string, payload: string | Buffer): Promise<void> {
  const before = d.handled();
  await client.publishAsync(topic, payload, { qos: 1 });
  await waitFor(() => d.handled() > before, WAIT_MS, `the payload on ${topic} handled`, d.diag);
}

/** Tasmota SENSOR JSON of a plug at local Amsterdam time `local` ("2024-03-01T12:15:00"). */
const tasmota = (local: string, totalKwh: number) =>
  JSON.stringify({
    Time: local,
    ENERGY: { TotalStartTime: '2023-01-01T00:00:00', Total: totalKwh, Today: 0.1, Power: 230 },
  });
/** The generic JSON with the two tariff registers, which the driver sums. */
const generic = (time: string | undefined, t1: number, t2: number) =>
  JSON.stringify({
    ...(time ? { time } : {}),
    values: [
      { obis: '1-0:1.8.1', value: t1, unit: 'kWh' },
      { obis: '1-0:1.8.2', value: t2, unit: 'kWh' },
      { obis: '1-0:16.7.0', value: 1.2, unit: 'kW' },
    ],
  });

const reading = (meterId: string, k: number, wh: number): Reading => ({
  meterId,
  start: T0 + k * I,
  end: T0 + (k + 1) * I,
  wh,
});
const sorted = (readings: Reading[]) =>
  [...readings].sort((a, b) => a.meterId.localeCompare(b.meterId) || a.start - b.start);

describe('MQTT meter driver: payloads to readings', () => {
  it('Tasmota SENSOR JSON and the generic JSON become exact readings of the meter their topic belongs to', async () => {
    const { d, pub } = await subscribedDriver();

    for (const [k, local, utc, plugKwh, t1, t2] of [
      [0, '2024-03-01T12:00:00', '2024-03-01T12:00:00+01:00', 10, 300.1, 200.4],
      [1, '2024-03-01T12:15:00', '2024-03-01T11:15:00Z', 10.25, 300.3, 200.6],
    ] as const) {
      d.clock.set(T0 + k * I);
      await send(d, pub, PLUG, tasmota(local, plugKwh));
      await send(d, pub, BRIDGE, generic(utc, t1, t2));
    }
    // Tasmota's "2018.02.04 23:17:01" time format; a generic payload without time is placed by the gateway clock.
    d.clock.set(T0 + 2 * I);
    await send(d, pub, PLUG, tasmota('2024.03.01 12:30:00', 10.6));
    await send(d, pub, BRIDGE, generic(undefined, 300.45, 200.65));

    expect(sorted(d.readings)).toEqual([
      reading('bridge', 0, 400),
      reading('bridge', 1, 200),
      reading('plug', 0, 250),
      reading('plug', 1, 350),
    ]);
    expect(d.metrics.snapshot()).toMatchObject({ 'driver.mqtt.payloads': 6 });
    expect(d.metrics.get('driver.clock_skew')).toBe(0);
    expect(d.sealed).toEqual([]);
  }, 60_000);

  it('malformed JSON, wrong types, missing fields, a huge payload and an unknown topic are counted and survived; the next good payload is taken', async () => {
    const { d, pub } = await subscribedDriver();
    await send(d, pub, PLUG, tasmota('2024-03-01T12:00:00', 10));
    await send(d, pub, BRIDGE, generic('2024-03-01T11:00:00Z', 1, 2));

    const refused = (code: string) => d.metrics.get(`driver.mqtt.rejected.${code}`);
    const bad: [string, string | Buffer][] = [
      [PLUG, '{"Time":"2024-03-01T12:05:00","ENERGY":{"Total":10.1'], // cut short
      [PLUG, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80])], // not text
      [PLUG, ''],
      [PLUG, '{"Time":"2024-03-01T12:05:00","ENERGY":{"Total":"ten"}}'], // wrong type
      [PLUG, '{"Time":"2024-03-01T12:05:00","ENERGY":{"Total":-3}}'], // negative register
      [PLUG, '{"Time":"2024-03-01T12:05:00","ENERGY":{"Power":230}}'], // no Total
      [PLUG, '["ENERGY", 10.1]'],
      [BRIDGE, '{"time":"2024-03-01T11:05:00Z","values":[{"obis":"1-0:1.8.0","value":"3.1","unit":"kWh"}]}'],
      [BRIDGE, '{"time":"2024-03-01T11:05:00Z"}'], // no values
      [BRIDGE, '{"values":[{"obis":"1.8.0","value":3.1,"unit":"kWh"}]}'], // not an OBIS code A-B:C.D.E
      [BRIDGE, '{"time":"yesterday","values":[{"obis":"1-0:1.8.0","value":3.1,"unit":"kWh"}]}'],
      [BRIDGE, 'null'],
      // Too many values (at most 64), in a payload under the size limit.
      [
        BRIDGE,
        JSON.stringify({ values: Array.from({ length: 500 }, () => ({ obis: '1-0:1.8.0', value: 1 })) }),
      ],
    ];
    for (const [i, [topic, payload]] of bad.entries()) {
      await send(d, pub, topic, payload);
      expect(refused('PAYLOAD_MALFORMED'), `bad payload #${i}`).toBe(i + 1);
    }
    // Huge: 4 MB that is not JSON, and a JSON array of 200 000 values: refused unread, by size.
    const huge: [string, string | Buffer][] = [
      [PLUG, Buffer.alloc(4 * 1024 * 1024, 'x')],
      [
        BRIDGE,
        JSON.stringify({ values: Array.from({ length: 200_000 }, () => ({ obis: '1-0:1.8.0', value: 1 })) }),
      ],
    ];
    for (const [i, [topic, payload]] of huge.entries()) {
      await send(d, pub, topic, payload);
      expect(refused('FRAME_TOO_LONG'), `huge payload #${i}`).toBe(i + 1);
    }
    expect(refused('PAYLOAD_MALFORMED')).toBe(bad.length);

    // Parsed, but not usable as an energy register: counted by the meter's series.
    await send(d, pub, BRIDGE, '{"values":[{"obis":"1-0:1.8.0","value":3.1,"unit":"V"}]}');
    expect(d.metrics.get('driver.frames_rejected.FRAME_MALFORMED')).toBe(1);
    await send(d, pub, BRIDGE, '{"values":[{"obis":"1-0:16.7.0","value":1.2,"unit":"kW"}]}');
    expect(d.metrics.get('driver.frames_without_energy')).toBe(1);
    // The same time again (a retained or repeated message): ignored as stale.
    await send(d, pub, PLUG, tasmota('2024-03-01T12:00:00', 10.05));
    expect(d.metrics.get('driver.samples_stale')).toBe(1);

    // Topics nobody configured are not subscribed to: never delivered, nothing counted. Published before a good
    // payload from the same client, so they would have arrived first.
    const handled = d.handled();
    await pub.publishAsync('tele/plug-9/SENSOR', tasmota('2024-03-01T12:15:00', 99), { qos: 1 });
    await pub.publishAsync('TELE/PLUG-1/SENSOR', tasmota('2024-03-01T12:15:00', 99), { qos: 1 });
    d.clock.set(T0 + I);
    await send(d, pub, PLUG, tasmota('2024-03-01T12:15:00', 10.25));
    await send(d, pub, BRIDGE, generic('2024-03-01T11:15:00Z', 1.5, 2.25));
    expect(d.handled()).toBe(handled + 2);

    expect(sorted(d.readings)).toEqual([reading('bridge', 0, 750), reading('plug', 0, 250)]);
    expect(d.metrics.get('driver.mqtt.payloads')).toBe(7);
    const rejected = Object.keys(d.metrics.snapshot()).filter((k) => k.startsWith('driver.mqtt.rejected.'));
    expect(rejected).toEqual([
      'driver.mqtt.rejected.FRAME_TOO_LONG',
      'driver.mqtt.rejected.PAYLOAD_MALFORMED',
    ]);
  }, 60_000);
});

describe('MQTT meter driver: sealed readings', () => {
  it('a payload sealed with the meter key goes to the sealed sink; forged, tampered and plaintext ones are refused and counted', async () => {
    const { meter, d, pub } = await subscribedDriver();
    // The driver checks the signature and the layout and passes the ciphertext on untouched; whether it is a valid
    // Paillier element is the intake's check, so any hex stands in for it here.
    const body = (k: number, ciphertext: string, edit: Partial<Record<string, unknown>> = {}) => ({
      type: 'sealed-reading',
      v: 2,
      intervalStart: new Date(T0 + k * I).toISOString(),
      intervalMinutes: 15,
      slotBits: 40,
      slots: ['total', 'peak', 'offpeak'],
      releaseShift: LAYOUT.releaseShift,
      clipWh: LAYOUT.clipWh,
      ciphertext,
      ...edit,
    });
    const seal = (b: unknown, keys = meter.keys) => signEnvelope(b, keys.privateKey, keys.publicKey).message;

    await send(d, pub, SEALED, seal(body(0, 'abc0123def')));
    expect(d.sealed).toEqual([{ meterId: 'sealed', start: T0, end: T0 + I, ciphertext: 0xabc0123defn }]);

    // Forged: a well-formed envelope signed by another key.
    await send(d, pub, SEALED, seal(body(1, '1111'), generateKeyPairSync('ed25519')));
    expect(d.metrics.get('driver.mqtt.rejected.SIGNATURE_INVALID')).toBe(1);
    // Tampered: the meter's envelope with another ciphertext in its body, signature kept.
    const envelope = JSON.parse(seal(body(1, '2222'))) as { body: string };
    envelope.body = envelope.body.replace('"2222"', '"2223"');
    await send(d, pub, SEALED, JSON.stringify(envelope));
    expect(d.metrics.get('driver.mqtt.rejected.SIGNATURE_INVALID')).toBe(2);
    // Signed by the meter but in another packing layout, or not an envelope at all (a plaintext reading).
    await send(d, pub, SEALED, seal(body(1, '3333', { slotBits: 41 })));
    await send(d, pub, SEALED, tasmota('2024-03-01T12:15:00', 10));
    expect(d.metrics.get('driver.mqtt.rejected.PAYLOAD_MALFORMED')).toBe(2);
    // A sealed payload on a plaintext meter's topic is not a reading either.
    await send(d, pub, PLUG, seal(body(1, '4444')));
    expect(d.metrics.get('driver.mqtt.rejected.PAYLOAD_MALFORMED')).toBe(3);

    await send(d, pub, SEALED, seal(body(1, 'fedcba9876543210')));
    expect(d.sealed).toEqual([
      { meterId: 'sealed', start: T0, end: T0 + I, ciphertext: 0xabc0123defn },
      { meterId: 'sealed', start: T0 + I, end: T0 + 2 * I, ciphertext: 0xfedcba9876543210n },
    ]);
    expect(d.metrics.get('driver.mqtt.sealed')).toBe(2);
    expect(d.metrics.get('driver.mqtt.payloads')).toBe(0);
    expect(d.readings).toEqual([]);
  }, 60_000);
});

describe('MQTT meter driver: the broker going away', () => {
  it('counts the broker going offline, reconnects when it is back on the same port, resubscribes, and payloads flow again', async () => {
    const { b, d, pub } = await subscribedDriver();
    await send(d, pub, PLUG, tasmota('2024-03-01T12:00:00', 10));
    await pub.endAsync(true);

    await b.stop();
    await waitFor(() => d.metrics.get('driver.mqtt.offline') >= 1, WAIT_MS, 'the driver offline', d.diag);
    const subacks = d.subacks();
    // Down for a while: the driver's reconnect attempts (every 2 s) fail meanwhile.
    await new Promise((r) => setTimeout(r, 2500));
    expect(d.metrics.get('driver.mqtt.payloads')).toBe(1);

    await b.restart(); // a new broker with no sessions: only a new subscription brings payloads back
    await d.subscribed(subacks);
    const pubAgain = await meters(b.url);
    d.clock.set(T0 + I);
    await send(d, pubAgain, PLUG, tasmota('2024-03-01T12:15:00', 10.4));
    d.clock.set(T0 + 2 * I);
    await send(d, pubAgain, PLUG, tasmota('2024-03-01T12:30:00', 10.5));

    expect(sorted(d.readings)).toEqual([reading('plug', 0, 400), reading('plug', 1, 100)]);
    expect(d.metrics.get('driver.mqtt.payloads')).toBe(3);
    expect(d.metrics.get('driver.mqtt.offline')).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('cuts the connection off at the header of a packet above 8 MiB, unread, counts it and takes payloads again', async () => {
    const { d, pub } = await subscribedDriver();
    const subacks = d.subacks();
    await pub.publishAsync(PLUG, Buffer.alloc(METER_BROKER_MAX_PACKET_BYTES + 1, 'x'), { qos: 0 });
    await waitFor(() => d.metrics.get('driver.mqtt.inbound_too_large') === 1, WAIT_MS, 'the cut-off', d.diag);
    await d.subscribed(subacks); // reconnected (clean session: the message is not sent again)
    await send(d, pub, PLUG, tasmota('2024-03-01T12:00:00', 10));
    expect(d.metrics.get('driver.mqtt.payloads')).toBe(1);
    expect(d.metrics.get('driver.mqtt.rejected.FRAME_TOO_LONG')).toBe(0);
  }, 60_000);
});
