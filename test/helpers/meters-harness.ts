/**
 * The harness of the emulated-meter end-to-end tests: a Mosquitto broker, keys, the reference MDMS, a directory for
 * pty pairs and meter keys, and an anchored virtual timeline shared by the gateway and the emulators (the timeline
 * reaches the scenario's start `leadMs` of real time from now, when everyone is listening).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { Emulators } from './emulators.ts';
import { makeKeySet, type KeySet } from './keys.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import {
  makeScenario,
  spawnGateway,
  startMdms,
  TEST_METERS,
  waitFor,
  type GatewayProcess,
  type Scenario,
  type ScenarioOptions,
} from './scenario.ts';

export interface MetersHarness {
  broker: Mosquitto;
  keys: KeySet;
  store: MdmsStore;
  /** For pty pairs and meter key files. */
  dir: string;
  anchor: string;
  emulators: Emulators;
  scenario(o: Omit<ScenarioOptions, 'keys' | 'brokerUrl' | 'anchor'>): Scenario;
  /** The emulator options every meter shares: its household's rows, the window and the shared timeline. */
  emulatorArgs(scenario: Scenario, meterId: string, speed: number): string[];
  /** Runs the gateway until `done`, then stops it with SIGTERM and expects a clean exit. */
  runGateway(scenario: Scenario, done: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

export async function startMetersHarness(leadMs = 12_000): Promise<MetersHarness> {
  const broker = await startMosquitto();
  const keys = await makeKeySet();
  const dir = mkdtempSync(path.join(tmpdir(), 'meters-'));
  const { store, receiver } = await startMdms(broker.url, keys, path.join(dir, 'mdms.sqlite'));
  const anchor = new Date(Date.now() + leadMs).toISOString();
  const emulators = new Emulators();
  let gateway: GatewayProcess | undefined;
  let window: { from: string; to: string } | undefined;
  return {
    broker,
    keys,
    store,
    dir,
    anchor,
    emulators,
    scenario: (o) => {
      window = { from: o.from, to: o.to };
      return makeScenario({ ...o, keys, brokerUrl: broker.url, anchor });
    },
    emulatorArgs: (scenario, meterId, speed) => [
      ...['--csv', path.join(scenario.dir, 'slice.csv')],
      ...['--household', TEST_METERS.find((m) => m.id === meterId)!.household],
      ...['--start', window!.from, '--until', window!.to, '--anchor', anchor, '--speed', String(speed)],
    ],
    runGateway: async (scenario, done, what) => {
      const g = spawnGateway(scenario.configFile);
      gateway = g;
      // Generous: on a 2-core machine running the whole suite, the emulators and the gateway share the CPU with
      // the test files beside them.
      await waitFor(
        done,
        240_000,
        what,
        () => `${JSON.stringify(store.counts())}\n${g.output()}\n${emulators.output()}`,
      );
      g.child.kill('SIGTERM');
      expect(await g.exited, `gateway exit on SIGTERM\n${g.output()}`).toBe(0);
    },
    close: async () => {
      gateway?.child.kill('SIGKILL');
      emulators.stopAll();
      await receiver.stop();
      await broker.stop();
    },
  };
}
