/**
 * The brokers the gateway talks to: a real MQTT CONNECT with the configured credentials and TLS settings (the
 * gateway's own option builder), under a client id of its own so that a running gateway keeps its session, with
 * a clean session so that nothing stays at the broker.
 */
import mqtt, { type IClientOptions } from 'mqtt';
import type { Config } from '../../../gateway/config/schema.ts';
import { readSecretFile } from '../../../gateway/keys/files.ts';
import { connectionHint } from '../../../gateway/uplink/connection-hint.ts';
import { mqttOptions } from '../../../gateway/uplink/mqtt-options.ts';
import { codeOf, fail, messageOf, ok, type Finding } from './finding.ts';

export async function checkBrokers(config: Readonly<Config>, timeoutMs: number): Promise<Finding[]> {
  const findings = [await checkUpstream(config, timeoutMs)];
  const meters = config.drivers.mqtt;
  if (meters && config.meters.some((m) => m.source.driver === 'mqtt')) {
    const name = 'meter broker (drivers.mqtt)';
    try {
      const opts: IClientOptions = { clientId: `${meters.clientId ?? `meters-${config.gateway.id}`}-doctor` };
      if (meters.username !== undefined) opts.username = meters.username;
      if (meters.passwordFile)
        opts.password = readSecretFile(meters.passwordFile, 'broker password file').trim();
      findings.push(await connectCheck(name, meters.url, opts, timeoutMs));
    } catch (error) {
      findings.push(fail('broker', `${name}: ${messageOf(error)}`, 'see the keys lines above'));
    }
  }
  return findings;
}

async function checkUpstream(config: Readonly<Config>, timeoutMs: number): Promise<Finding> {
  const name = 'upstream broker';
  let opts: IClientOptions;
  try {
    opts = mqttOptions(config.upstream, config.gateway.id);
  } catch (error) {
    return fail('broker', `${name}: ${messageOf(error)}`, 'see the keys and tls lines above');
  }
  return connectCheck(name, config.upstream.url, { ...opts, clientId: `${opts.clientId}-doctor` }, timeoutMs);
}

async function connectCheck(
  name: string,
  url: string,
  opts: IClientOptions,
  timeoutMs: number,
): Promise<Finding> {
  const outcome = await connectOnce(url, {
    ...opts,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  const who = [opts.username ? `user ${opts.username}` : '', opts.cert ? 'client certificate' : '']
    .filter(Boolean)
    .join(', ');
  if (outcome === 'connected') {
    return ok('broker', `${name} ${url} accepted an MQTT connection${who ? ` (${who})` : ''}`);
  }
  return fail('broker', `${name} ${url}: ${describe(outcome, timeoutMs)}`, fixFor(outcome, url));
}

type Outcome = 'connected' | 'timeout' | Error;

function connectOnce(url: string, opts: IClientOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, opts);
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      resolve(outcome);
    };
    const timer = setTimeout(() => settle('timeout'), (opts.connectTimeout ?? 5000) + 500);
    client.once('connect', () => settle('connected'));
    client.once('error', (error) => settle(error));
    client.once('close', () => settle(new Error('connection closed before the broker answered')));
  });
}

function describe(outcome: Exclude<Outcome, 'connected'>, timeoutMs: number): string {
  if (outcome === 'timeout') return `no answer within ${timeoutMs / 1000} s`;
  const code = codeOf(outcome);
  if (code === 'ECONNREFUSED') return 'nothing accepts connections there (connection refused)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host name not found';
  return outcome.message;
}

function fixFor(outcome: Exclude<Outcome, 'connected'>, url: string): string {
  const code =
    outcome === 'timeout' ? 'timeout' : (codeOf(outcome) ?? String((outcome as { code?: unknown }).code));
  switch (code) {
    case 'ECONNREFUSED':
      return `start the broker, or fix the host and port in ${url}; check the broker's firewall`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'check the host name in the URL and the DNS settings (resolvectl status)';
    case 'timeout':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'check the network path to the broker (cable, firewall, VPN) and the URL';
    case 'CERT_NOT_YET_VALID':
      return 'check the clock (see the clock line); the broker certificate is not valid yet';
    default:
      // TLS trust, client certificates, credentials, plaintext at a TLS port: the gateway's own hints.
      return connectionHint(outcome as Error, url);
  }
}
