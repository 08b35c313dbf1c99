/**
 * The systemd unit (config/systemd/meterspace.service) as systemd itself reads it: installed by scripts/install
 * into a throwaway root, where `systemd-analyze verify` also checks that ExecStart exists, and its offline
 * security review. systemd-analyze comes with the systemd package, which .ci/run installs.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInstall } from '../helpers/install.ts';

const UNIT = 'meterspace.service';
const SYSTEM_UNITS = '/usr/lib/systemd/system';

function analyze(args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (r.error) throw new Error(`systemd-analyze is needed (apt-get install systemd): ${r.error.message}`);
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The unit's [Service]/[Unit] assignments, key → values (a key may repeat). */
function assignments(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

describe('the systemd unit', () => {
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'unit-root-'));
    const run = await runInstall(['--root', root, '--no-npm']);
    expect(run.code, run.stderr).toBe(0);
    // The units the gateway's unit refers to (multi-user.target, network-online.target, modprobe@.service ...).
    mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync(SYSTEM_UNITS, path.join(root, SYSTEM_UNITS), { recursive: true, verbatimSymlinks: true });
    // And the program ExecReload runs, as the system has it (verify checks that it exists under the root).
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    cpSync('/bin/kill', path.join(root, 'bin/kill'));
  }, 120_000);

  it('passes systemd-analyze verify without a warning', () => {
    const r = analyze(['verify', `--root=${root}`, UNIT]);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('is refused by verify when its program is missing (the check is real)', () => {
    const unitFile = path.join(root, 'etc/systemd/system', UNIT);
    const good = readFileSync(unitFile, 'utf8');
    try {
      writeFileSync(
        unitFile,
        good.replace('/opt/meterspace/scripts/gateway', '/opt/meterspace/scripts/nothing'),
      );
      const r = analyze(['verify', `--root=${root}`, UNIT]);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('/opt/meterspace/scripts/nothing is not executable');
    } finally {
      writeFileSync(unitFile, good);
    }
  });

  it('keeps an exposure level of at most 4.0 in the offline security review', () => {
    const r = analyze(['security', '--offline=yes', `--root=${root}`, '--threshold=40', '--no-pager', UNIT]);
    expect(r.output).toMatch(/Overall exposure level for meterspace\.service: ([0-3]\.\d|4\.0) /);
    expect(r.code).toBe(0);
  });

  it('notifies, is watched, is hardened, reaches serial ports, reloads on SIGHUP and restarts on every exit but an invalid configuration', () => {
    const unit = assignments(readFileSync(path.join(root, 'etc/systemd/system', UNIT), 'utf8'));
    const one = (key: string) => unit.get(key)?.join(' ');
    expect(one('Type')).toBe('notify');
    expect(one('NotifyAccess')).toBe('all'); // the messages come from systemd-notify, a child process
    expect(one('WatchdogSec')).toBe('60s');
    expect(one('User')).toBe('meterspace');
    expect(one('SupplementaryGroups')).toBe('dialout');
    // Every end not asked for by systemctl stop is restarted, never given up, except an invalid configuration.
    expect(one('Restart')).toBe('always');
    expect(one('StartLimitIntervalSec')).toBe('0');
    // 2: invalid configuration; 3: the buffer needs an operator (corrupt, or behind its marker; issue #20).
    expect(one('RestartPreventExitStatus')).toBe('2 3');
    // systemctl reload: SIGHUP, which reads the configuration file again (gateway/remote/local-reload.ts).
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')?.split(' ')).toEqual(['/var/lib/meterspace', '/etc/meterspace']);
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('UMask')).toBe('0077');
    expect(one('LimitCORE')).toBe('0'); // a core dump would hold the gateway's private key
    expect(one('PrivateDevices')).toBe('no');
    expect(one('DevicePolicy')).toBe('closed');
    expect(unit.get('DeviceAllow')).toEqual([
      'char-ttyUSB rw',
      'char-ttyACM rw',
      'char-ttyAMA rw',
      'char-ttyS rw',
    ]);
    expect(one('ExecStart')).toBe('/opt/meterspace/scripts/gateway --config /etc/meterspace/gateway.yaml');
  });
});
