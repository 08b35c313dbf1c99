/**
 * Meters speaking real protocols, end to end: in neighbourhood "north", one meter is an emulated DSMR 5 meter on
 * a socat pty pair, one an SML eHZ on another pty, one a Tasmota bridge publishing over MQTT, one a meter that
 * encrypts and signs its own readings (MQTT "sealed"); the fifth replays the CSV. In "east", one meter publishes
 * the gateway's generic JSON over MQTT. Each emulator (scripts/emulate, as a technician runs it) presents its household's recorded consumption
 * as a cumulative register; the gateway reads the protocol, turns the register into interval readings and the
 * MDMS must end up with exactly the sums computed from the CSV — the protocol path loses and invents nothing.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { writeKeyFile } from '../../gateway/keys/files.ts';
import { generateSigningPair } from '../../gateway/keys/generate.ts';
import { Emulators } from '../helpers/emulators.ts';
import { makeKeySet } from '../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import {
  makeScenario,
  mdmsComplete,
  spawnGateway,
  startMdms,
  TEST_METERS,
  waitFor,
  type GatewayProcess,
  type Scenario,
} from '../helpers/scenario.ts';

const FROM = '2012-10-10T00:00:00Z';
const TO = '2012-10-10T12:00:00Z';
const SPEED = 2880;
/** Real time before the shared timeline reaches FROM: the gateway and every emulator are listening by then. */
const LEAD_REAL_MS = 12_000;

describe('DSMR, SML, MQTT and self-encrypting meters through the gateway into the MDMS', () => {
  let broker: Mosquitto;
  let scenario: Scenario;
  let gateway: GatewayProcess;
  let store: MdmsStore;
  let stopMdms: () => Promise<void>;
  const emulators = new Emulators();

  beforeAll(async () => {
    broker = await startMosquitto();
    const keys = await makeKeySet();
    const ptys = mkdtempSync(path.join(tmpdir(), 'ptys-'));
    // m04 encrypts and signs its own readings: the gateway only ever sees its ciphertexts.
    const meterKey = generateSigningPair('ed25519');
    const meterKeyFile = path.join(ptys, 'meter-m04.ed25519.key.pem');
    const meterPubFile = path.join(ptys, 'meter-m04.ed25519.pub.pem');
    writeKeyFile(meterKeyFile, meterKey.privatePem, { secret: true });
    writeKeyFile(meterPubFile, meterKey.publicPem, { secret: false });
    const mdmsDir = mkdtempSync(path.join(tmpdir(), 'mdms-'));
    const mdms = await startMdms(broker.url, keys, path.join(mdmsDir, 'mdms.sqlite'));
    store = mdms.store;
    stopMdms = () => mdms.receiver.stop();
    // The gateway and the emulators share one virtual timeline (clock.anchor / --anchor).
    const anchor = new Date(Date.now() + LEAD_REAL_MS).toISOString();
    scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: FROM,
      to: TO,
      speed: SPEED,
      anchor,
      sourceOf: (m) =>
        ({
          m01: { driver: 'serial', port: 'p1' },
          m02: { driver: 'serial', port: 'ehz' },
          m03: { driver: 'mqtt', topic: 'tele/m03/SENSOR', format: 'tasmota' },
          m04: { driver: 'mqtt', topic: 'meters/m04/sealed', format: 'sealed', publicKey: meterPubFile },
          m06: { driver: 'mqtt', topic: 'meters/m06', format: 'generic' },
        })[m.id],
      drivers: {
        serial: {
          p1: {
            path: path.join(ptys, 'p1', 'gateway'),
            protocol: 'dsmr',
            dsmrVersion: '5.0',
            reopenMaxSeconds: 1,
          },
          ehz: { path: path.join(ptys, 'ehz', 'gateway'), protocol: 'sml', reopenMaxSeconds: 1 },
        },
        mqtt: { url: broker.url },
      },
    });
    const common = (household: string) => [
      '--csv',
      path.join(scenario.dir, 'slice.csv'),
      '--household',
      household,
      '--start',
      FROM,
      '--anchor',
      anchor,
      '--until',
      TO,
      '--speed',
      String(SPEED),
      '--step',
      '60',
    ];
    const meter = (id: string) => TEST_METERS.find((m) => m.id === id)!.household;
    emulators.start(['dsmr', ...common(meter('m01')), '--pty', path.join(ptys, 'p1')]);
    emulators.start(['sml', ...common(meter('m02')), '--pty', path.join(ptys, 'ehz'), '--sml-absolute-time']);
    emulators.start(['mqtt', ...common(meter('m03')), '--broker', broker.url, '--topic', 'tele/m03/SENSOR']);
    emulators.start([
      ...[
        'mqtt',
        ...common(meter('m06')),
        '--broker',
        broker.url,
        '--topic',
        'meters/m06',
        '--format',
        'generic',
      ],
    ]);
    emulators.start([
      ...['mqtt', ...common(meter('m04')), '--broker', broker.url, '--topic', 'meters/m04/sealed'],
      ...['--format', 'sealed', '--meter-key', meterKeyFile, '--gateway-config', scenario.configFile],
    ]);

    gateway = spawnGateway(scenario.configFile);
    await waitFor(
      () => mdmsComplete(store, scenario.expected),
      120_000,
      'all records at the MDMS',
      () => `${JSON.stringify(store.counts())}\n${gateway.output()}\n${emulators.output()}`,
    );
    gateway.child.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
  }, 180_000);

  afterAll(async () => {
    gateway?.child.kill('SIGKILL');
    emulators.stopAll();
    await stopMdms?.();
    await broker?.stop();
  });

  it('holds exactly the sums, counts and bills computed from the CSV', () => {
    expect(scenario.expected.aggregates.size).toBeGreaterThan(40);
    expectExactlyExpected(store, scenario.expected);
  });
});
