/**
 * Meters speaking real protocols, end to end: in neighbourhood "north", one meter is an emulated DSMR 5 meter on
 * a socat pty pair, one an SML eHZ on another pty, one a Tasmota bridge publishing over MQTT, one a meter that
 * encrypts and signs its own readings (MQTT "sealed"); the fifth replays the CSV. In "east", one meter publishes
 * the gateway's generic JSON over MQTT. Each emulator (scripts/emulate, as a technician runs it) presents its
 * household's recorded consumption as a cumulative register; the gateway reads the protocol, turns the register into interval readings and the
 * MDMS must end up with exactly the sums computed from the CSV — the protocol path loses and invents nothing.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, it, expect } from 'vitest';
import { writeKeyFile } from '../../gateway/keys/files.ts';
import { generateSigningPair } from '../../gateway/keys/generate.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { expectExactlyExpected } from '../helpers/assert-mdms.ts';
import { startMetersHarness, type MetersHarness } from '../helpers/meters-harness.ts';
import { mdmsComplete, type Scenario } from '../helpers/scenario.ts';

const FROM = '2012-10-10T00:00:00Z';
const TO = '2012-10-10T12:00:00Z';
const SPEED = 2880;

describe('DSMR, SML, MQTT and self-encrypting meters through the gateway into the MDMS', () => {
  let h: MetersHarness;
  let scenario: Scenario;
  let store: MdmsStore;

  beforeAll(async () => {
    h = await startMetersHarness();
    store = h.store;
    const ptys = h.dir;
    // m04 encrypts and signs its own readings: the gateway only ever sees its ciphertexts.
    const meterKey = generateSigningPair('ed25519');
    const meterKeyFile = path.join(ptys, 'meter-m04.ed25519.key.pem');
    const meterPubFile = path.join(ptys, 'meter-m04.ed25519.pub.pem');
    writeKeyFile(meterKeyFile, meterKey.privatePem, { secret: true });
    writeKeyFile(meterPubFile, meterKey.publicPem, { secret: false });
    scenario = h.scenario({
      from: FROM,
      to: TO,
      speed: SPEED,
      // Ten emulated hours are 12.5 real seconds at this speed: an emulator starved of CPU by the tests running
      // beside it may lag that much without its readings arriving after their interval was decided.
      graceMinutes: { intervals: 600, billing: 600 },
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
        mqtt: { url: h.broker.url },
      },
    });
    const common = (id: string) => [...h.emulatorArgs(scenario, id, SPEED), '--step', '60'];
    const broker = ['--broker', h.broker.url];
    h.emulators.start(['dsmr', ...common('m01'), '--pty', path.join(ptys, 'p1')]);
    h.emulators.start(['sml', ...common('m02'), '--pty', path.join(ptys, 'ehz'), '--sml-absolute-time']);
    h.emulators.start(['mqtt', ...common('m03'), ...broker, '--topic', 'tele/m03/SENSOR']);
    h.emulators.start(['mqtt', ...common('m06'), ...broker, '--topic', 'meters/m06', '--format', 'generic']);
    h.emulators.start([
      ...['mqtt', ...common('m04'), ...broker, '--topic', 'meters/m04/sealed', '--format', 'sealed'],
      ...['--meter-key', meterKeyFile, '--gateway-config', scenario.configFile],
    ]);
    await h.runGateway(scenario, () => mdmsComplete(store, scenario.expected), 'all records at the MDMS');
  }, 320_000);

  afterAll(() => h?.close());

  it('holds exactly the sums, counts and bills computed from the CSV', () => {
    expect(scenario.expected.aggregates.size).toBeGreaterThan(40);
    expectExactlyExpected(store, scenario.expected);
  });
});
