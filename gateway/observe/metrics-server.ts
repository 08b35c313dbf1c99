/**
 * The local Prometheus endpoint (`observe.metrics`): `GET /metrics` on a plain node:http server, on the loopback
 * interface unless the configuration names another address. An address it cannot listen on (in use, not on this
 * machine) is logged and counted, and the gateway goes on without the endpoint: watching must not stop metering.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_METRICS_LISTEN, LISTEN_PATTERN, type Config } from '../config/schema.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.ts';

/** `observe.metrics.listen`, validated by the schema, as host and port; a bare port is on 127.0.0.1. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = LISTEN_PATTERN.exec(listen);
  if (!m) throw new Error(`"${listen}" is not port, host:port or [ipv6]:port`);
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** Where `observe.metrics` asks for the endpoint; undefined when it is off. */
export function metricsAddress(
  setting: Config['observe']['metrics'],
): { host: string; port: number } | undefined {
  if (setting === false) return undefined;
  return parseListen(setting === true ? DEFAULT_METRICS_LISTEN : setting.listen);
}

export class MetricsServer {
  private server: Server | undefined;

  constructor(
    private readonly listen: { host: string; port: number },
    private readonly render: () => string,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Starts listening; resolves either way (a failure is logged and counted). */
  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') return void res.writeHead(404).end('not found: try /metrics\n');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
      }
      try {
        const text = this.render();
        this.metrics.inc('metrics.scrapes');
        res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
        res.end(req.method === 'HEAD' ? undefined : text);
      } catch (error) {
        this.metrics.inc('metrics.failed');
        this.log.error({ reason: (error as Error).message }, 'metrics could not be rendered');
        res.writeHead(500).end();
      }
    });
    const { host, port } = this.listen;
    await new Promise<void>((resolve) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        this.metrics.inc(`metrics.listen_failed.${error.code ?? 'UNKNOWN'}`);
        this.log.error(
          { host, port, reason: error.message },
          'the metrics endpoint cannot listen there; the gateway goes on without it',
        );
        resolve();
      });
      server.listen(port, host, () => {
        this.server = server;
        this.log.info(
          { url: `http://${host.includes(':') ? `[${host}]` : host}:${this.port}/metrics` },
          'metrics endpoint listening',
        );
        resolve();
      });
    });
  }

  /** Where it listens (undefined when it does not). */
  address(): AddressInfo | undefined {
    return (this.server?.address() as AddressInfo | null) ?? undefined;
  }

  private get port(): number | undefined {
    return this.address()?.port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
