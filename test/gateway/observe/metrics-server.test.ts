/**
 * The local Prometheus endpoint over real HTTP: off unless configured, on the loopback interface by default and
 * for a bare port, GET /metrics in the text format, nothing else served, and an address it cannot listen on
 * counted and survived (the gateway goes on metering).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import { ConfigSchema } from '../../../gateway/config/schema.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { metricsAddress, MetricsServer } from '../../../gateway/observe/metrics-server.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../../../gateway/observe/prometheus.ts';

const minimal = (observe?: unknown) => ({
  gateway: { id: 'gw-1' },
  keys: { supplierPublic: 's.json', gatewayPrivate: 'g.pem', mdmsPublic: 'm.pem' },
  upstream: { url: 'mqtt://localhost:1883' },
  drivers: { replay: { file: 'c.csv' } },
  neighbourhoods: [{ id: 'n' }],
  meters: [{ id: 'm1', neighbourhood: 'n', account: 'a', source: { driver: 'replay', household: '1' } }],
  ...(observe === undefined ? {} : { observe }),
});

const servers: MetricsServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

function server(listen: string, metrics = new Metrics()) {
  const address = metricsAddress(ConfigSchema.shape.observe.parse({ metrics: { listen } }).metrics)!;
  const s = new MetricsServer(address, () => '# HELP x y\n# TYPE x gauge\nx 1\n', metrics, silentLogger());
  servers.push(s);
  return s;
}

describe('the metrics endpoint', () => {
  it('is off unless configured, and on loopback by default', () => {
    expect(validateConfig(minimal()).observe.metrics).toBe(false);
    expect(metricsAddress(validateConfig(minimal()).observe.metrics)).toBeUndefined();
    expect(metricsAddress(validateConfig(minimal({ metrics: false })).observe.metrics)).toBeUndefined();
    const loopback = { host: '127.0.0.1', port: 9464 };
    expect(metricsAddress(validateConfig(minimal({ metrics: true })).observe.metrics)).toEqual(loopback);
    expect(metricsAddress(validateConfig(minimal({ metrics: {} })).observe.metrics)).toEqual(loopback);
    expect(metricsAddress({ listen: '9100' })).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(metricsAddress({ listen: '[::1]:9100' })).toEqual({ host: '::1', port: 9100 });
    expect(metricsAddress({ listen: '0.0.0.0:9100' })).toEqual({ host: '0.0.0.0', port: 9100 });
    for (const listen of ['localhost:99999', 'http://x:1', ':9100', '10.0.0.1:']) {
      expect(() => validateConfig(minimal({ metrics: { listen } })), listen).toThrow();
    }
  });

  it('serves GET /metrics on the loopback interface, and nothing else', async () => {
    const s = server('0');
    await s.start();
    const { address, port } = s.address()!;
    expect(address).toBe('127.0.0.1');
    const base = `http://127.0.0.1:${port}`;
    const ok = await fetch(`${base}/metrics`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE);
    expect(await ok.text()).toBe('# HELP x y\n# TYPE x gauge\nx 1\n');
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics/../secrets`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('goes on without the endpoint when the address is taken', async () => {
    const first = server('0');
    await first.start();
    const metrics = new Metrics();
    const second = server(String(first.address()!.port), metrics);
    await second.start();
    expect(second.address()).toBeUndefined();
    expect(metrics.get('metrics.listen_failed.EADDRINUSE')).toBe(1);
  });
});
