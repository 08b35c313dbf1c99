/**
 * The demo's world: 22 real households from the committed fixture in four neighbourhoods, one of them (quay)
 * with fewer than k = 5 meters so that suppression is visible, and the gateway configuration that runs them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { REFERENCE_BANDS, type TestMeter } from '../reference-sums.ts';

const NEIGHBOURHOODS: [string, string[]][] = [
  ['harbour', ['10006414', '10006572', '10006630', '10006664', '10006674', '10006684', '10006694']],
  ['hills', ['10006704', '10017458', '10017462', '10017466', '10017470', '10017472']],
  ['park', ['10017476', '10017478', '10017480', '10017482', '10017490', '10017492']],
  ['quay', ['10017554', '10017562', '10017936']],
];

export const DEMO_GATEWAY_ID = 'gw-demo';

export const DEMO_METERS: TestMeter[] = NEIGHBOURHOODS.flatMap(([neighbourhood, households]) =>
  households.map((household) => ({ neighbourhood, household })),
).map((m, i) => ({
  ...m,
  id: `meter-${String(i + 1).padStart(2, '0')}`,
  account: `ACC-${String(1001 + i)}`,
}));

export interface DemoConfigOptions {
  dir: string;
  brokerUrl: string;
  csv: string;
  start: string;
  speed: number;
}

/** The demo's privacy budget and clip (printed with the results). */
export const DEMO_EPSILON = 1000;
export const DEMO_CLIP_WH = 2000;

/** Writes the demo's gateway.yaml and returns its path. */
export function writeDemoConfig(o: DemoConfigOptions): string {
  const config = {
    gateway: { id: DEMO_GATEWAY_ID, dataDir: 'var', logFile: 'gateway.log' },
    clock: { mode: 'virtual', start: o.start, speed: o.speed },
    // Demo only: ε = 1000 per day (the schema's maximum, ten times the default) so that the noise on sums of
    // 5–13 households stays readable; clipWh 2000 is the 99th percentile of the SGSC half-hourly readings.
    privacy: {
      k: 5,
      noise: { epsilonPerDay: DEMO_EPSILON, epsilonCeiling: DEMO_EPSILON, clipWh: DEMO_CLIP_WH },
    },
    intervals: { minutes: 30, graceMinutes: 60 },
    billing: {
      period: 'daily',
      graceMinutes: 60,
      bands: REFERENCE_BANDS,
    },
    keys: {
      supplierPublic: 'keys/supplier.paillier.pub.json',
      gatewayPrivate: 'keys/gateway.ed25519.key.pem',
      mdmsPublic: 'keys/mdms.ed25519.pub.pem',
      enrolmentCodes: 'keys/enrolment-codes.json',
    },
    // The demo's embedded broker (aedes) speaks MQTT 3.1.1 only; the gateway's own packet cut-off still holds.
    upstream: {
      url: o.brokerUrl,
      protocolVersion: 4,
      schedule: '*/2 * * * * *',
      retryInitialSeconds: 2,
      retryMaxSeconds: 10,
    },
    drivers: { replay: { file: o.csv, pollMs: 100 } },
    // A health message every 10 s, so that the demo's search of the broker covers some (docs/fleet.md).
    observe: { healthSeconds: 10 },
    neighbourhoods: NEIGHBOURHOODS.map(([id]) => ({ id })),
    meters: DEMO_METERS.map((m) => ({
      id: m.id,
      neighbourhood: m.neighbourhood,
      account: m.account,
      source: { driver: 'replay', household: m.household },
    })),
  };
  const file = path.join(o.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `# Written by npm run demo; a real deployment starts from config/gateway.example.yaml\n${stringify(config)}`,
  );
  return file;
}
