/**
 * The upstream TLS files: the CA and client certificate parse and are valid today (an expired certificate, or a
 * clock before its start, fails every connection), the client key is readable by its owner only and belongs to
 * the certificate.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../../gateway/config/schema.ts';
import { readSecretFile } from '../../../gateway/keys/files.ts';
import { codeOf, fail, messageOf, ok, warn, type Finding } from './finding.ts';

const DAY_MS = 86_400_000;

export function checkTls(config: Readonly<Config>, now: number, user: string): Finding[] {
  const tls = config.upstream.tls;
  if (!tls) return [];
  const findings: Finding[] = [];
  let cert: X509Certificate | undefined;
  if (tls.ca) findings.push(certificate('upstream.tls.ca', tls.ca, now, user).finding);
  if (tls.cert) {
    const r = certificate('upstream.tls.cert', tls.cert, now, user);
    findings.push(r.finding);
    cert = r.cert;
  }
  if (tls.key) {
    let key: KeyObject | undefined;
    try {
      key = createPrivateKey(readSecretFile(tls.key, 'client private key', 'private'));
    } catch (error) {
      findings.push(
        fail('tls', `upstream.tls.key: ${messageOf(error)}`, keyFix(codeOf(error), tls.key, user)),
      );
    }
    if (key && cert && !cert.checkPrivateKey(key)) {
      findings.push(
        fail(
          'tls',
          `${tls.key} is not the private key of the certificate ${tls.cert}`,
          'install the key the certificate was issued for, or a certificate for this key',
        ),
      );
    } else if (key) {
      findings.push(ok('tls', `${tls.key}: client private key (${key.asymmetricKeyType})`));
    }
  }
  return findings;
}

function certificate(
  field: string,
  file: string,
  now: number,
  user: string,
): { finding: Finding; cert?: X509Certificate } {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(file));
  } catch (error) {
    const code = codeOf(error);
    const reason =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? `is not readable by ${user}`
          : `is not a PEM certificate (${messageOf(error)})`;
    const fix =
      code === 'ENOENT'
        ? 'copy the file from the broker operator there (docs/raspberry-pi.md §10)'
        : `check that ${file} is a PEM certificate readable by ${user}`;
    return { finding: fail('tls', `${field}: ${file} ${reason}`, fix) };
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const subject = cert.subject.replace(/\n/g, ', ');
  if (now < from) {
    const fix = 'check the clock (see the clock line) or use a certificate valid now';
    return { finding: fail('tls', `${file} (${subject}) is not valid before ${cert.validFrom}`, fix) };
  }
  if (now > to) {
    return {
      finding: fail('tls', `${file} (${subject}) expired on ${cert.validTo}`, 'renew the certificate'),
    };
  }
  const days = Math.floor((to - now) / DAY_MS);
  if (days < 30) {
    const finding = warn('tls', `${file} (${subject}) expires in ${days} day(s)`, 'renew the certificate');
    return { finding, cert };
  }
  return { finding: ok('tls', `${file}: ${subject}, valid until ${cert.validTo}`), cert };
}

function keyFix(code: string | undefined, file: string, user: string): string {
  if (code === 'KEY_FILE_INSECURE') return `sudo chmod 600 ${file}`;
  if (code === 'KEY_FILE_UNREADABLE') return `sudo chown ${user}: ${file}`;
  if (code === 'KEY_FILE_MISSING') return 'install the client key issued for this gateway there';
  return `check that ${file} is a PEM private key`;
}
