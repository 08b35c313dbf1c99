/**
 * Worker thread that fills the randomizer pool in idle time, so that the intake never waits for an
 * exponentiation. It builds the fixed-base table (short-exponent mode) and answers each `fill` request with a
 * chunk of fresh randomizers. Nothing here is ever written anywhere.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { modPowNative, randomUnit } from './bigint.ts';
import { FixedBaseTable } from './fixed-base.ts';
import { ShortExponentRandomizer } from './randomizers.ts';

export interface WorkerSetup {
  mode: 'short-exponent' | 'full';
  n: bigint;
  n2: bigint;
  hs: bigint;
  exponentBits: number;
  windowBits: number;
}

export type WorkerRequest = { type: 'fill'; count: number };
export type WorkerReply = { type: 'ready'; tableBytes: number } | { type: 'randomizers'; values: bigint[] };

const setup = workerData as WorkerSetup;
const port = parentPort!;

const table =
  setup.mode === 'short-exponent'
    ? new FixedBaseTable(setup.hs, setup.n2, setup.exponentBits, setup.windowBits)
    : undefined;
const short = table && new ShortExponentRandomizer(table, setup.exponentBits);

function one(): bigint {
  return short ? short.next() : modPowNative(randomUnit(setup.n), setup.n, setup.n2);
}

port.on('message', (request: WorkerRequest) => {
  const values: bigint[] = [];
  for (let i = 0; i < request.count; i++) values.push(one());
  port.postMessage({ type: 'randomizers', values } satisfies WorkerReply);
});
port.postMessage({ type: 'ready', tableBytes: table?.bytes ?? 0 } satisfies WorkerReply);
