/**
 * One replay run of the whole pipeline: a real Mosquitto, the gateway process (scripts/gateway) replaying a
 * slice of the real data, the reference MDMS in-process, and a client recording everything published, until the
 * MDMS holds every expected record; then the gateway is stopped cleanly.
 */
import mqtt from 'mqtt';
import { expect } from 'vitest';
import type { BatchBodyMsg, UpRecordMsg } from '../../gateway/protocol/messages.ts';
import type { MdmsStore } from '../../scripts/lib/mdms/store.ts';
import { makeKeySet, type KeySet } from './keys.ts';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';
import {
  makeScenario,
  mdmsComplete,
  spawnGateway,
  startMdms,
  waitFor,
  type GatewayProcess,
  type Scenario,
  type ScenarioOptions,
} from './scenario.ts';

export interface PipelineRun {
  keys: KeySet;
  scenario: Scenario;
  store: MdmsStore;
  /** Every message published on the broker, in arrival order. */
  upstream: { topic: string; payload: Buffer }[];
  /** Stops the MDMS, the recording client and the broker (and the gateway, if it still runs). */
  stop(): Promise<void>;
}

export type MdmsStarter = (
  url: string,
  keys: KeySet,
  dbFile: string,
) => Promise<{ store: MdmsStore; stop: () => Promise<void> }>;

export async function runPipeline(
  options: Omit<ScenarioOptions, 'keys' | 'brokerUrl'>,
  /** Called once the MDMS is complete, while the gateway still runs. */
  beforeStop: (scenario: Scenario) => void = () => {},
  /** Starts the MDMS (default: the reference MDMS with the whole key). */
  mdmsStarter: MdmsStarter = async (url, keys, dbFile) => {
    const mdms = await startMdms(url, keys, dbFile);
    return { store: mdms.store, stop: () => mdms.receiver.stop() };
  },
): Promise<PipelineRun> {
  let broker: Mosquitto | undefined;
  let spy: mqtt.MqttClient | undefined;
  let gateway: GatewayProcess | undefined;
  let stopMdms: (() => Promise<void>) | undefined;
  const stop = async () => {
    gateway?.child.kill('SIGKILL');
    await spy?.endAsync();
    await stopMdms?.();
    await broker?.stop();
  };
  try {
    broker = await startMosquitto();
    const keys = await makeKeySet();
    const scenario = makeScenario({ ...options, keys, brokerUrl: broker.url });
    const upstream: PipelineRun['upstream'] = [];
    spy = await mqtt.connectAsync(broker.url);
    await spy.subscribeAsync('#', { qos: 1 });
    spy.on('message', (topic, payload) => upstream.push({ topic, payload: Buffer.from(payload) }));
    const mdms = await mdmsStarter(broker.url, keys, `${scenario.dir}/mdms.sqlite`);
    stopMdms = mdms.stop;
    const running = spawnGateway(scenario.configFile);
    gateway = running;
    await waitFor(
      () => mdmsComplete(mdms.store, scenario.expected),
      150_000,
      'all records at the MDMS',
      () => `${JSON.stringify(mdms.store.counts())}\n${running.output()}`,
    );
    beforeStop(scenario);
    running.child.kill('SIGTERM');
    expect(await running.exited).toBe(0);
    return { keys, scenario, store: mdms.store, upstream, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Every record of every batch the gateway published. */
export function publishedRecords(upstream: PipelineRun['upstream']): UpRecordMsg[] {
  return upstream
    .filter((m) => m.topic.endsWith('/batch'))
    .flatMap(
      (m) =>
        (JSON.parse((JSON.parse(m.payload.toString()) as { body: string }).body) as BatchBodyMsg).records,
    );
}
