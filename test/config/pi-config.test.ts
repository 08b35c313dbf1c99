/**
 * What scripts/install puts in /etc: the starting configuration is valid for the gateway, and its P1 port is the
 * stable name the udev rule example gives the cable. udev itself is not here (no udevadm verify before systemd
 * 254), so the rule's lines are checked against udev's syntax: KEY[{attr}] op "value", separated by commas.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RULES = readFileSync(path.join(ROOT, 'config/udev/99-meterspace-serial.rules'), 'utf8');
const PAIR = /^(SUBSYSTEM|ATTRS|KERNELS|SYMLINK|GROUP|MODE|TAG)(\{[a-zA-Z_]+\})?(==|\+=|=)"[^"]*"$/;

/** The rule lines, commented examples included (uncommented, they must be valid too). */
function ruleLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/^#(?=SUBSYSTEM)/, ''))
    .filter((l) => l.startsWith('SUBSYSTEM'));
}

describe('the udev rule example and the starting configuration', () => {
  it('has rules in udev syntax that match tty devices by USB id and add a meterspace-* link', () => {
    const rules = ruleLines(RULES);
    expect(rules.length).toBe(3);
    for (const rule of rules) {
      const pairs = rule.split(', ');
      for (const pair of pairs) expect(pair).toMatch(PAIR);
      expect(pairs).toContain('SUBSYSTEM=="tty"');
      expect(pairs.some((p) => p.startsWith('ATTRS{idVendor}=='))).toBe(true);
      expect(pairs.some((p) => /^SYMLINK\+="meterspace-[a-z0-9-]+"$/.test(p))).toBe(true);
      expect(pairs).toContain('GROUP="dialout"');
    }
    // The active rule: an FTDI FT232R P1 cable becomes /dev/meterspace-p1.
    const active = RULES.split('\n').filter((l) => l.startsWith('SUBSYSTEM'));
    expect(active).toHaveLength(1);
    expect(active[0]).toContain(
      'ATTRS{idVendor}=="0403", ATTRS{idProduct}=="6001", SYMLINK+="meterspace-p1"',
    );
  });

  it('installs a valid configuration whose P1 port is the udev name, with every file under /etc/meterspace', () => {
    const config = loadConfigFile(path.join(ROOT, 'config/gateway.pi.yaml'));
    expect(config.drivers.serial?.p1?.path).toBe('/dev/meterspace-p1');
    expect(config.clock.mode).toBe('system');
    expect(config.gateway.dataDir).toBe('/var/lib/meterspace');
    const files = [
      config.keys.supplierPublic,
      config.keys.gatewayPrivate,
      config.keys.mdmsPublic,
      config.upstream.tls?.ca,
      config.upstream.tls?.cert,
      config.upstream.tls?.key,
    ];
    for (const file of files) expect(file).toMatch(/^\/etc\/meterspace\/(keys|tls)\//);
  });
});
