/**
 * The upstream link over TLS, with the real gateway process and a Mosquitto that speaks only TLS and asks every
 * client for a certificate (a throwaway CA made by openssl): with the CA and its client certificate the gateway
 * connects and its retained status says online; without a client certificate, with the wrong CA, or in plaintext
 * at the TLS port it does not, and its log says which setting to change.
 */
import { existsSync, readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../gateway/protocol/topics.ts';
import { makeKeySet, type KeySet } from '../helpers/keys.ts';
import type { Mosquitto } from '../helpers/mosquitto.ts';
import { GATEWAY_ID, makeScenario, spawnGateway, waitFor, type GatewayProcess } from '../helpers/scenario.ts';
import { startTlsBroker, type TlsFiles } from '../helpers/tls-broker.ts';

describe('the upstream link over TLS with client certificates', () => {
  let broker: Mosquitto;
  let url: string;
  let files: TlsFiles;
  let keys: KeySet;
  const gateways: GatewayProcess[] = [];

  beforeAll(async () => {
    ({ broker, url, files } = await startTlsBroker());
    keys = await makeKeySet();
  }, 60_000);

  afterAll(async () => {
    for (const g of gateways) g.child.kill('SIGKILL');
    await broker?.stop();
  });

  /** Starts a gateway whose upstream is `upstream`; returns a reader of its log. */
  function start(upstream: Record<string, unknown>): () => string {
    const scenario = makeScenario({
      keys,
      brokerUrl: url,
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-09T02:00:00Z',
      speed: 60,
      upstream,
    });
    gateways.push(spawnGateway(scenario.configFile));
    return () => (existsSync(scenario.logFile) ? readFileSync(scenario.logFile, 'utf8') : '');
  }

  it('connects with the CA and a client certificate; the retained status says online', async () => {
    const log = start({
      url,
      tls: { ca: files.ca, cert: files.clientCert, key: files.clientKey },
    });
    await waitFor(() => log().includes('connected to upstream broker'), 60_000, 'the TLS connection', log);
    const watcher = await mqtt.connectAsync(url, {
      ca: readFileSync(files.ca),
      cert: readFileSync(files.clientCert),
      key: readFileSync(files.clientKey),
    });
    const states: boolean[] = [];
    watcher.on('message', (_t, p) => states.push((JSON.parse(p.toString()) as { online: boolean }).online));
    await watcher.subscribeAsync(topics.status('meterspace/v1', GATEWAY_ID), { qos: 1 });
    await waitFor(() => states.includes(true), 10_000, 'the retained online status');
    await watcher.endAsync();
  }, 90_000);

  it('says what to set when the client certificate is missing, the CA is wrong, or TLS is not used', async () => {
    const noCert = start({ url, tls: { ca: files.ca } });
    const wrongCa = start({ url, tls: { ca: files.otherCa, cert: files.clientCert, key: files.clientKey } });
    const plain = start({ url: url.replace('mqtts://', 'mqtt://') });
    await waitFor(
      () => noCert().includes('set upstream.tls.cert and upstream.tls.key'),
      60_000,
      'the client-certificate hint',
      noCert,
    );
    await waitFor(
      () => wrongCa().includes('set upstream.tls.ca to the CA that signed it'),
      60_000,
      'the CA hint',
      wrongCa,
    );
    await waitFor(() => plain().includes('use mqtts://'), 60_000, 'the plaintext hint', plain);
    for (const log of [noCert, wrongCa, plain]) expect(log()).not.toContain('connected to upstream broker');
  }, 120_000);
});
