/**
 * A Mosquitto that speaks only TLS and asks every client for a certificate, with a throwaway CA made by openssl:
 * the CA, the broker's certificate (for 127.0.0.1) and a client certificate signed by it, and a second CA that
 * signed nothing (to stand for a wrong trust anchor).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMosquitto, type Mosquitto } from './mosquitto.ts';

export interface TlsFiles {
  ca: string;
  otherCa: string;
  clientCert: string;
  clientKey: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: 'ignore' });

function ca(dir: string, name: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'].concat([
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-subj',
      `/CN=${name}`,
    ]),
    dir,
  );
}

function signed(dir: string, name: string, cn: string, extensions: string): void {
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ]),
    dir,
  );
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    ]),
    dir,
  );
}

export async function startTlsBroker(): Promise<{ broker: Mosquitto; files: TlsFiles; url: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tls-'));
  ca(dir, 'ca');
  ca(dir, 'other-ca');
  signed(dir, 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  signed(dir, 'client', 'gw-test', 'extendedKeyUsage=clientAuth\n');
  // Mosquitto started as root reads its files as its own user; the client key is the gateway's (mode 0600).
  chmodSync(dir, 0o755);
  for (const f of ['ca.pem', 'server.pem', 'server.key']) chmodSync(path.join(dir, f), 0o644);
  chmodSync(path.join(dir, 'client.key'), 0o600);
  const broker = await startMosquitto(
    [
      `cafile ${path.join(dir, 'ca.pem')}`,
      `certfile ${path.join(dir, 'server.pem')}`,
      `keyfile ${path.join(dir, 'server.key')}`,
      'require_certificate true',
    ].join('\n'),
  );
  return {
    broker,
    url: `mqtts://127.0.0.1:${broker.port}`,
    files: {
      ca: path.join(dir, 'ca.pem'),
      otherCa: path.join(dir, 'other-ca.pem'),
      clientCert: path.join(dir, 'client.pem'),
      clientKey: path.join(dir, 'client.key'),
    },
  };
}
