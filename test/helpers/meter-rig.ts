/**
 * The MQTT meter driver as the gateway wires it: built from a validated configuration (a Tasmota plug, a bridge
 * sending the generic JSON, two meters that seal their own readings), subscribed to a real Mosquitto, handing
 * readings and sealed readings to the real intake, which encrypts (or re-randomises) them into a real SQLite
 * buffer under a 1024-bit Paillier key. A second client publishes as the meters. For the forged/replayed, fuzz and
 * bounded-memory tests of the meter side (issue #7, 7–8).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { generateRandomKeysSync } from 'paillier-bigint';
import { buildMqttDriver } from '../../drivers/mqtt/build-mqtt.ts';
import type { MqttMeterDriver } from '../../drivers/mqtt/mqtt-meter-driver.ts';
import { Intake } from '../../gateway/acquire/intake.ts';
import { TariffBands } from '../../gateway/acquire/tariff.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { NativeEngine } from '../../gateway/encrypt/engine.ts';
import { layoutFor, packReading } from '../../gateway/encrypt/packing.ts';
import { ReadingEncryptor } from '../../gateway/encrypt/reading-encryptor.ts';
import { silentLogger } from '../../gateway/observe/log.ts';
import { Metrics } from '../../gateway/observe/metrics.ts';
import { signEnvelope } from '../../gateway/protocol/envelope.ts';
import { ManualClock } from '../../gateway/time/clock.ts';
import { billingPeriodOf } from '../../gateway/time/periods.ts';
import { openTestBuffer } from './buffer.ts';
import { counted } from './fuzz.ts';
import { startMosquitto } from './mosquitto.ts';
import { waitFor } from './wait.ts';
import { RELEASE_BOUNDS } from './packing.ts';

export const METER_I = 15 * 60_000;
export const METER_T0 = Date.parse('2024-03-01T11:00:00Z');
export const METER_TOPICS = {
  plug: 'tele/plug-1/SENSOR',
  bridge: 'meters/bridge-2/state',
  sealedA: 'meters/sealed-a/reading',
  sealedB: 'meters/sealed-b/reading',
} as const;
const WAIT_MS = 20_000;

function meterKey(dir: string, name: string): { privateKey: KeyObject; publicKey: KeyObject; pem: string } {
  const keys = generateKeyPairSync('ed25519');
  const pem = path.join(dir, `${name}.ed25519.pub.pem`);
  writeFileSync(pem, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  return { ...keys, pem };
}

export async function meterRig() {
  const broker = await startMosquitto();
  const dir = mkdtempSync(path.join(tmpdir(), 'meter-rig-'));
  const keyA = meterKey(dir, 'sealed-a');
  const keyB = meterKey(dir, 'sealed-b');
  const source = (topic: string, format: string, publicKey?: string) => ({
    driver: 'mqtt',
    topic,
    format,
    ...(publicKey ? { publicKey } : {}),
  });
  const config = validateConfig({
    gateway: { id: 'gw' },
    keys: { supplierPublic: 'x', gatewayPrivate: 'x', mdmsPublic: 'x' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    intervals: { minutes: 15 },
    drivers: { mqtt: { url: broker.url, timezone: 'Europe/Amsterdam' } },
    neighbourhoods: [{ id: 'n' }],
    meters: [
      { id: 'plug', neighbourhood: 'n', account: 'a1', source: source(METER_TOPICS.plug, 'tasmota') },
      { id: 'bridge', neighbourhood: 'n', account: 'a2', source: source(METER_TOPICS.bridge, 'generic') },
      {
        id: 'sealed-a',
        neighbourhood: 'n',
        account: 'a3',
        source: source(METER_TOPICS.sealedA, 'sealed', keyA.pem),
      },
      {
        id: 'sealed-b',
        neighbourhood: 'n',
        account: 'a4',
        source: source(METER_TOPICS.sealedB, 'sealed', keyB.pem),
      },
    ],
  });
  const paillier = generateRandomKeysSync(1024, true); // g = n + 1, as the gateway's keys
  const supplier = { n: paillier.publicKey.n, n2: paillier.publicKey._n2, bits: 1024 };
  const layout = layoutFor({
    maxWhPerReading: 20_000,
    maxAddends: 1000,
    bands: ['all'],
    modulusBits: 1024,
    ...RELEASE_BOUNDS,
  });
  const bands = new TariffBands([{ name: 'all', windows: ['00:00-24:00'] }], 'UTC');
  const metrics = new Metrics();
  const buffer = openTestBuffer(supplier.n2, metrics);
  const clock = new ManualClock(METER_T0);
  const engine = new NativeEngine(supplier);
  const intake = new Intake(
    {
      meters: config.meters,
      intervalMs: METER_I,
      maxWhPerReading: 20_000,
      maxReadingAgeMs: 2 * 86_400_000,
      billingPeriodOf: (ms) => billingPeriodOf(ms, 'monthly', 'UTC'),
      bandOf: (ms) => bands.bandAt(ms),
      billingGraceMs: 3_600_000,
      maxHeldReadings: 100,
    },
    supplier,
    clock,
    new ReadingEncryptor(engine, layout, bands),
    buffer,
    metrics,
    silentLogger(),
  );
  let subacks = 0;
  const driver = buildMqttDriver(
    config,
    (meters) => ({
      meters,
      sink: intake.accept,
      sealedSink: intake.acceptSealed,
      clock,
      startedAt: clock.now(),
      intervalMs: METER_I,
      cursor: (id) => intake.cursor(id),
      metrics,
      report: { link: () => undefined, rejected: () => undefined },
      log: silentLogger(),
    }),
    (url, opts) => {
      const client = mqtt.connect(url, opts);
      client.on('packetreceive', (packet) => {
        if (packet.cmd === 'suback') subacks++;
      });
      return client;
    },
    layout,
  ) as MqttMeterDriver;
  await driver.start();
  const diag = () => JSON.stringify({ subacks, metrics: metrics.snapshot() });
  await waitFor(() => subacks > 0, WAIT_MS, 'the driver subscribed', diag);
  const pub: MqttClient = await mqtt.connectAsync(broker.url, { clientId: `rig-meters-${process.pid}` });

  /** Payloads the driver has taken or refused so far (each delivered payload is counted exactly once). */
  const handled = () =>
    counted(metrics, 'driver.mqtt.payloads', 'driver.mqtt.sealed', 'driver.mqtt.rejected.');
  /** Publishes messages (QoS 1, in order) and waits until the driver has handled them all and the intake committed. */
  const sendAll = async (messages: readonly (readonly [string, string | Buffer])[]) => {
    const target = handled() + messages.length;
    await Promise.all(messages.map(([topic, p]) => pub.publishAsync(topic, p, { qos: 1 })));
    await waitFor(() => handled() >= target, WAIT_MS, `${messages.length} payloads handled`, diag);
    intake.flush();
  };
  /** Publishes payloads on one topic; see sendAll. */
  const send = (topic: string, ...payloads: (string | Buffer)[]) =>
    sendAll(payloads.map((p) => [topic, p] as const));
  /** A sealed reading for interval `k` (Wh `wh`), signed with `key` (meter A's by default). */
  const sealedReading = (k: number, wh: number, key: KeyObject = keyA.privateKey, edit: object = {}) => {
    const ciphertext = engine.encrypt(packReading(layout, BigInt(wh), 0));
    const body = {
      type: 'sealed-reading',
      v: 2,
      intervalStart: new Date(METER_T0 + k * METER_I).toISOString(),
      intervalMinutes: 15,
      slotBits: layout.slotBits,
      slots: layout.slots,
      releaseShift: layout.releaseShift,
      clipWh: layout.clipWh,
      ciphertext: ciphertext.toString(16),
      ...edit,
    };
    return signEnvelope(body, key, keyA.publicKey).message;
  };
  /** What no refused payload may change: stored readings, bill ciphertexts, held readings, cursors. */
  const state = () => ({
    readings: buffer.db.prepare('SELECT meter_id, interval_start FROM readings ORDER BY 1, 2').all(),
    bills: buffer.db.prepare('SELECT COUNT(*) AS n FROM pending_bills').get(),
    held: buffer.db.prepare('SELECT COUNT(*) AS n FROM held_readings').get(),
    cursors: buffer.db.prepare('SELECT * FROM meter_cursors ORDER BY 1').all(),
  });
  const close = async () => {
    await pub.endAsync(true);
    await driver.stop();
    buffer.close();
    await broker.stop();
  };
  return {
    metrics,
    buffer,
    clock,
    intake,
    engine,
    supplier,
    keyA,
    keyB,
    layout,
    send,
    sendAll,
    sealedReading,
    state,
    handled,
    close,
  };
}
