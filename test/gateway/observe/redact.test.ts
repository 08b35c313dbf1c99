/**
 * Secrets never reach the log: a whole validated configuration logged through the gateway's real logger (pino,
 * to a real file) shows the gateway id and meter ids but no password, no key material, no enrolment code, no
 * token and no credentials in a URL, at any depth; the object logged is left as it was.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../gateway/config/load.ts';
import { createLogger, type Logger } from '../../../gateway/observe/log.ts';
import { redactSecrets } from '../../../gateway/observe/redact.ts';
import { waitFor } from '../../helpers/wait.ts';

const SECRETS = {
  upstreamPassword: 'upstream-pw-7c1e',
  urlPassword: 'url-pw-93ab',
  tlsKey: '/etc/meterspace/tls/client-key-4f2d.pem',
  smartyKey: 'AABBCCDDEEFF00112233445566778899',
  privateKeyPem: '-----BEGIN PRIVATE KEY-----MC4CAQAwBQYDK2VwBCIEIsecret',
  enrolmentCode: 'K7QF-3XMD-PW2R',
  token: 'tok-51d0e6',
  passphrase: 'correct horse battery staple',
};

function configWithSecrets() {
  return validateConfig({
    gateway: { id: 'gw-redact-01' },
    keys: {
      supplierPublic: 'keys/supplier.paillier.pub.json',
      gatewayPrivate: 'keys/gateway.ed25519.key.pem',
      mdmsPublic: 'keys/mdms.ed25519.pub.pem',
    },
    upstream: {
      url: `mqtts://gw-redact-01:${SECRETS.urlPassword}@broker.example:8883`,
      username: 'gw-redact-01',
      password: SECRETS.upstreamPassword,
      tls: { ca: 'ca.pem', cert: 'client.pem', key: SECRETS.tlsKey },
    },
    drivers: {
      serial: {
        p1: { path: '/dev/ttyUSB0', protocol: 'dsmr', authenticationKey: SECRETS.smartyKey },
      },
    },
    neighbourhoods: [{ id: 'nb-a' }],
    meters: [
      { id: 'm-0042', neighbourhood: 'nb-a', account: 'ACC-1', source: { driver: 'serial', port: 'p1' } },
    ],
  });
}

/** What `write` logs through the gateway's logger, once its `lines` lines are in the file. */
async function logged(lines: number, write: (log: Logger) => void): Promise<string> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'redact-')), 'gateway.log');
  const log = createLogger({ level: 'info', file });
  write(log.child({ component: 'config' }));
  const read = () => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  await waitFor(() => read().split('\n').length > lines, 5000, 'the log lines');
  return read();
}

describe('the log redacts secrets', () => {
  it('a whole configuration object, logged at any depth, shows no secret', async () => {
    const config = configWithSecrets();
    const before = JSON.stringify(config);
    const text = await logged(4, (log) => {
      log.info({ config }, 'configuration');
      log.info({ wrapped: { in: { a: { list: [config] } } } }, 'deeper');
      log.info(config.upstream, 'the upstream section at the top');
      log.warn(
        {
          household: { enrolmentCode: SECRETS.enrolmentCode, privateKey: SECRETS.privateKeyPem },
          request: { token: SECRETS.token, passphrase: SECRETS.passphrase },
          reason: `connect mqtt://user:${SECRETS.urlPassword}@10.0.0.1:1883 failed`,
        },
        'other shapes',
      );
    });
    for (const [name, secret] of Object.entries(SECRETS)) expect(text.includes(secret), name).toBe(false);
    // It did log: the non-secret fields are there, and the redactions are marked.
    expect(text.split('\n').filter(Boolean)).toHaveLength(4);
    expect(text).toContain('gw-redact-01');
    expect(text).toContain('m-0042');
    expect(text).toContain('broker.example:8883');
    expect(text).toContain('[redacted]');
    // The configuration itself is untouched.
    expect(JSON.stringify(config)).toBe(before);
    expect(config.upstream.password).toBe(SECRETS.upstreamPassword);
  });

  it('copies only what it changes and leaves other values as they are', () => {
    const plain = { meter: 'm1', counts: [1, 2], at: new Date(0) };
    expect(redactSecrets(plain)).toBe(plain);
    const out = redactSecrets({ a: { password: 'x', keep: 1 }, url: 'mqtt://u:p@h/x', n: null });
    expect(out).toEqual({ a: { password: '[redacted]', keep: 1 }, url: 'mqtt://[redacted]@h/x', n: null });
  });
});
