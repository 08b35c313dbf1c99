/**
 * A remote configuration that adds the meter broker is checked against the real broker first: Mosquitto that
 * accepts the gateway passes, as does one that accepts its credentials; a port nobody listens on and a broker
 * that refuses the credentials are refused (BROKER_REFUSED) with the broker's or the network's reason; a change
 * that leaves the meter broker alone connects nowhere.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import type { Config } from '../../../gateway/config/schema.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { checkBrokers } from '../../../gateway/remote/broker-check.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { freePort } from '../../helpers/ports.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'broker-check-'));
let open: Mosquitto;
let locked: Mosquitto;

beforeAll(async () => {
  open = await startMosquitto();
  const passwords = path.join(dir, 'passwd');
  writeFileSync(passwords, '');
  execFileSync('mosquitto_passwd', ['-b', passwords, 'gw', 'right-password']);
  // Mosquitto started as root drops to its own user, which must be able to read the file.
  chmodSync(dir, 0o755);
  chmodSync(passwords, 0o644);
  locked = await startMosquitto(`allow_anonymous false\npassword_file ${passwords}`);
});
afterAll(async () => {
  await open?.stop();
  await locked?.stop();
});

function config(meterBroker?: Record<string, unknown>): Readonly<Config> {
  return validateConfig({
    gateway: { id: 'gw-1' },
    keys: { supplierPublic: 'a', gatewayPrivate: 'b', mdmsPublic: 'c' },
    upstream: { url: 'mqtt://127.0.0.1:1' },
    drivers: { replay: { file: 'x.csv' }, ...(meterBroker ? { mqtt: meterBroker } : {}) },
    neighbourhoods: [{ id: 'n' }],
    meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'replay', household: '1' } }],
  });
}

async function refusal(run: Promise<void>): Promise<string> {
  try {
    await run;
  } catch (error) {
    expect(isGatewayError(error, 'BROKER_REFUSED'), String(error)).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected BROKER_REFUSED');
}

describe('meter broker check of a remote configuration', () => {
  const running = config();

  it('passes a broker that accepts the gateway, and one that accepts its credentials', async () => {
    await checkBrokers(running, config({ url: open.url }));
    const secret = path.join(dir, 'good.pw');
    writeFileSync(secret, 'right-password\n', { mode: 0o600 });
    await checkBrokers(running, config({ url: locked.url, username: 'gw', passwordFile: secret }));
  });

  it('refuses a port nobody listens on and a broker that refuses the credentials, with the reason', async () => {
    const closed = `mqtt://127.0.0.1:${await freePort()}`;
    expect(await refusal(checkBrokers(running, config({ url: closed })))).toMatch(/ECONNREFUSED/);
    const secret = path.join(dir, 'bad.pw');
    writeFileSync(secret, 'wrong-password\n', { mode: 0o600 });
    const message = await refusal(
      checkBrokers(running, config({ url: locked.url, username: 'gw', passwordFile: secret })),
    );
    expect(message).toMatch(/Not authorized|Bad username or password/i);
  });

  it('connects nowhere when the meter broker is unchanged', async () => {
    // Both name a broker that would refuse (port 1): unchanged, so nothing is tried.
    const closed = config({ url: 'mqtt://127.0.0.1:1' });
    await checkBrokers(closed, config({ url: 'mqtt://127.0.0.1:1' }));
  });
});
