/**
 * The end-to-end harness shared by the fault tests: a Mosquitto broker, keys, a scenario, the reference MDMS and
 * the gateway process (started by `spawn`, possibly several times), all torn down by `close`.
 */
import { readFileSync } from 'node:fs';
import type { MdmsReceiver } from '../../scripts/lib/mdms/receiver.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { makeKeySet, type KeySet } from './keys.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import {
  makeScenario,
  spawnGateway,
  startMdms,
  type GatewayProcess,
  type Scenario,
  type ScenarioOptions,
  waitFor,
} from './scenario.ts';

export interface Harness {
  broker: Mosquitto;
  keys: KeySet;
  scenario: Scenario;
  store: MdmsStore;
  /** The reference MDMS (its counters tell duplicates apart). */
  mdms: MdmsReceiver;
  /** Groups (released or suppressed) the MDMS must end up with. */
  groups: number;
  /** Starts a gateway process on the scenario, with `args` (the previous one, if any, is left to the test). */
  spawn(args?: readonly string[]): GatewayProcess;
  /** The gateway's log file so far ('' before the gateway has made it). */
  log(): string;
  /** Waits until the gateway has logged "started" (after a spawn). */
  waitStarted(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(
  o: Omit<ScenarioOptions, 'keys' | 'brokerUrl'>,
  /** Lines added to the broker's configuration (e.g. persistence). */
  brokerConfig?: string,
): Promise<Harness> {
  const broker = await startMosquitto(brokerConfig);
  const keys = await makeKeySet();
  const scenario = makeScenario({ ...o, keys, brokerUrl: broker.url });
  const { store, receiver } = await startMdms(broker.url, keys, `${scenario.dir}/mdms.sqlite`);
  const started: GatewayProcess[] = [];
  const log = () => {
    try {
      return readFileSync(scenario.logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    broker,
    keys,
    scenario,
    store,
    mdms: receiver,
    groups: scenario.expected.aggregates.size + scenario.expected.suppressed.size,
    spawn: (args) => {
      const gateway = spawnGateway(scenario.configFile, args);
      started.push(gateway);
      return gateway;
    },
    log,
    waitStarted: () => waitFor(() => log().includes('"msg":"started"'), 60_000, 'the gateway to start'),
    close: async () => {
      for (const g of started) g.child.kill('SIGKILL');
      await receiver.stop();
      await broker.stop();
    },
  };
}
