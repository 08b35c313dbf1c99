/**
 * `scripts/gateway --doctor`: checks an installation as the gateway would meet it and prints one line per check,
 * OK, WARN or FAIL, with what to do under each problem. Exit code 0 when nothing failed, 1 otherwise. Run it as
 * the service user (sudo -u meterspace ...): permissions are checked for whoever runs it.
 */
import { userInfo } from 'node:os';
import path from 'node:path';
import { checkBrokers } from './broker-check.ts';
import { checkBuffer, checkDeviceBindings } from './buffer-check.ts';
import { checkClock, ntpStateFromTimedatectl, type NtpState } from './clock-check.ts';
import { checkConfig } from './config-check.ts';
import { checkDisk } from './disk-check.ts';
import { warn, type Finding } from './finding.ts';
import { checkKeys } from './keys-check.ts';
import { checkQuarantine } from './quarantine-check.ts';
import { checkSerialPorts } from './serial-check.ts';
import { checkTls } from './tls-check.ts';

export interface DoctorDeps {
  now?: () => number;
  ntp?: () => NtpState;
  /** Broker connection timeout. */
  timeoutMs?: number;
}

export async function runDoctor(
  configFile: string,
  out: NodeJS.WritableStream,
  deps: DoctorDeps = {},
): Promise<number> {
  const now = (deps.now ?? Date.now)();
  const user = userInfo().username;
  const counts = { OK: 0, WARN: 0, FAIL: 0 };
  const print = (findings: Finding[]) => {
    for (const f of findings) {
      counts[f.status]++;
      out.write(formatFinding(f));
    }
  };

  if (process.getuid?.() === 0) {
    print([
      warn(
        'user',
        'running as root: root may read and write anything, so permission problems do not show',
        'run it as the service user: sudo -u meterspace scripts/gateway --config FILE --doctor',
      ),
    ]);
  }
  const { finding, config } = checkConfig(configFile);
  print([finding]);
  if (config) {
    print(checkKeys(config, user));
    print(checkTls(config, now, user));
    print(checkSerialPorts(config, { name: user, uid: userInfo().uid, groups: process.getgroups?.() ?? [] }));
    print(await checkBrokers(config, deps.timeoutMs ?? 5000));
  }
  print([checkClock(now, (deps.ntp ?? ntpStateFromTimedatectl)())]);
  if (config) {
    print([checkDisk(config.gateway.dataDir, user)]);
    print([checkBuffer(path.join(config.gateway.dataDir, config.buffer.file), user)]);
    print([checkDeviceBindings(config)]);
    print([checkQuarantine(path.join(config.gateway.dataDir, config.buffer.file))]);
  }
  const skipped = config ? '' : ' (keys, ports, brokers, disk and buffer need a valid configuration)';
  out.write(`\n${counts.OK} OK, ${counts.WARN} WARN, ${counts.FAIL} FAIL${skipped}\n`);
  return counts.FAIL > 0 ? 1 : 0;
}

/** `FAIL  keys    message` and, indented under it, `-> what to do`; a multi-line message keeps its indent. */
export function formatFinding(f: Finding): string {
  const indent = ' '.repeat(14);
  const [first, ...rest] = f.message.split('\n');
  const lines = [`${f.status.padEnd(4)}  ${f.check.padEnd(7)} ${first}`, ...rest.map((l) => indent + l)];
  if (f.fix) lines.push(`${indent}-> ${f.fix}`);
  return `${lines.join('\n')}\n`;
}
