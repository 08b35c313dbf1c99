/**
 * scripts/install in a throwaway root (--root) and in dry-run mode: the directories, files, modes and the enable
 * link it makes, what it prints, that a second run changes nothing, and that it refuses what it must refuse.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTALL_BIN, linesOf, runInstall, snapshotTree } from '../helpers/install.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const modeOf = (file: string) => (statSync(file).mode & 0o7777).toString(8);
const throwawayRoot = () => mkdtempSync(path.join(tmpdir(), 'install-root-'));

describe('scripts/install', () => {
  it('is clean for shellcheck', () => {
    const r = spawnSync('shellcheck', [INSTALL_BIN], { encoding: 'utf8' });
    expect(r.error, 'shellcheck is installed by .ci/run').toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('sets up the user, directories, unit and udev rule in a throwaway root, and a second run changes nothing', async () => {
    const root = throwawayRoot();
    const first = await runInstall(['--root', root, '--no-npm']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);

    const at = (p: string) => path.join(root, p);
    expect(modeOf(at('opt/meterspace'))).toBe('755');
    expect(modeOf(at('etc/meterspace'))).toBe('770');
    expect(modeOf(at('etc/meterspace/keys'))).toBe('700');
    expect(modeOf(at('etc/meterspace/tls'))).toBe('700');
    expect(modeOf(at('var/lib/meterspace'))).toBe('700');
    const unit = at('etc/systemd/system/meterspace.service');
    expect(readFileSync(unit, 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'config/systemd/meterspace.service'), 'utf8'),
    );
    expect(modeOf(unit)).toBe('644');
    expect(readlinkSync(at('etc/systemd/system/multi-user.target.wants/meterspace.service'))).toBe(
      '/etc/systemd/system/meterspace.service',
    );
    const rule = at('etc/udev/rules.d/99-meterspace-serial.rules');
    expect(readFileSync(rule, 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'config/udev/99-meterspace-serial.rules'), 'utf8'),
    );
    const config = at('etc/meterspace/gateway.yaml');
    expect(readFileSync(config, 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'config/gateway.pi.yaml'), 'utf8'),
    );
    expect(modeOf(config)).toBe('640');
    // The code, without version control, dependencies or local data.
    expect(readFileSync(at('opt/meterspace/gateway/main.ts'), 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'gateway/main.ts'), 'utf8'),
    );
    expect(modeOf(at('opt/meterspace/scripts/gateway'))).toMatch(/^7[57][57]$/);
    for (const absent of ['.git', 'node_modules', 'var', 'keys'])
      expect(existsSync(at(`opt/meterspace/${absent}`))).toBe(false);

    // What needs the running system is printed, not done.
    const skipped = linesOf(first.stdout, 'skip').join('\n');
    expect(skipped).toMatch(/^useradd --system .* --shell \/usr\/sbin\/nologin meterspace/m);
    expect(skipped).toMatch(/^usermod -aG dialout meterspace/m);
    expect(skipped).toMatch(/^chown meterspace:meterspace .*\/etc\/meterspace\/keys/m);
    expect(skipped).toMatch(/^systemctl daemon-reload/m);
    expect(skipped).toMatch(/^udevadm control --reload-rules/m);
    expect(linesOf(first.stdout, 'do').length).toBeGreaterThanOrEqual(9);
    expect(first.stdout).toMatch(/^\d+ change\(s\) made in /m);

    // Keys put in place by hand, one readable by everybody and one that must never be on a gateway.
    writeFileSync(at('etc/meterspace/keys/gateway.ed25519.key.pem'), 'secret\n', { mode: 0o644 });
    writeFileSync(at('etc/meterspace/keys/supplier.paillier.key.json'), '{"kty": "paillier-private"}\n', {
      mode: 0o600,
    });
    chmodSync(at('etc/meterspace/keys/gateway.ed25519.key.pem'), 0o644);
    // The technician's own udev rule is kept; a unit edited in place (not in a drop-in) is put back.
    const localRule = `${readFileSync(rule, 'utf8')}SUBSYSTEM=="tty", KERNELS=="1-1.2", SYMLINK+="meterspace-rs485"\n`;
    writeFileSync(rule, localRule);
    writeFileSync(unit, `${readFileSync(unit, 'utf8')}# edited in place\n`);
    const second = await runInstall(['--root', root, '--no-npm']);
    expect(second.code).toBe(0);
    expect(linesOf(second.stdout, 'do')).toEqual([
      `chmod 600 ${at('etc/meterspace/keys/gateway.ed25519.key.pem')}`,
      `install -m 644 ${path.join(ROOT, 'config/systemd/meterspace.service')} ${unit}`,
    ]);
    expect(readFileSync(rule, 'utf8')).toBe(localRule);
    expect(readFileSync(unit, 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'config/systemd/meterspace.service'), 'utf8'),
    );
    expect(modeOf(at('etc/meterspace/keys/gateway.ed25519.key.pem'))).toBe('600');
    expect(linesOf(second.stdout, 'warn')).toEqual([
      `${at('etc/meterspace/keys/supplier.paillier.key.json')} is a supplier PRIVATE key: it must never be on a ` +
        'gateway; delete it and tell the supplier',
    ]);

    const before = snapshotTree(root);
    const third = await runInstall(['--root', root, '--no-npm']);
    expect(third.code).toBe(0);
    expect(linesOf(third.stdout, 'do')).toEqual([]);
    expect(third.stdout).toContain(`nothing to change: the gateway is installed in ${root}`);
    expect(snapshotTree(root)).toEqual(before);
  }, 120_000);

  it('--dry-run prints every action and changes nothing', async () => {
    const root = throwawayRoot();
    const run = await runInstall(['--dry-run', '--root', root]);
    expect(run.code).toBe(0);
    expect(snapshotTree(root).size).toBe(0);
    const would = linesOf(run.stdout, 'would');
    for (const dir of ['opt/meterspace', 'etc/meterspace', 'etc/meterspace/keys', 'var/lib/meterspace']) {
      expect(would).toContainEqual(
        expect.stringMatching(new RegExp(`^mkdir -m \\d+ ${path.join(root, dir)}$`)),
      );
    }
    expect(would).toContainEqual(expect.stringMatching(/^copy \d+ changed file\(s\) of the code/));
    expect(would).toContainEqual(
      expect.stringContaining(path.join(root, 'etc/systemd/system/meterspace.service')),
    );
    expect(would).toContainEqual(`systemctl --root ${root} enable meterspace.service`);
    expect(would).toContainEqual(expect.stringContaining('99-meterspace-serial.rules'));
    expect(linesOf(run.stdout, 'skip')).toContainEqual(expect.stringMatching(/^npm ci --omit=dev/));
    expect(run.stdout).toMatch(
      new RegExp(`^dry run: ${would.length} change\\(s\\) would be made, none was$`, 'm'),
    );
  });

  it('--dry-run on the running system changes nothing there either', async () => {
    const paths = [
      '/opt/meterspace',
      '/etc/meterspace',
      '/var/lib/meterspace',
      '/etc/systemd/system/meterspace.service',
    ];
    const state = () => paths.map((p) => (existsSync(p) ? `${p} ${statSync(p).mtimeMs}` : `${p} absent`));
    const before = state();
    const run = await runInstall(['--dry-run']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^dry run: \d+ change\(s\) would be made, none was$/m);
    expect(linesOf(run.stdout, 'do')).toEqual([]);
    expect(state()).toEqual(before);
  });

  it('refuses to install without root, and wrong arguments', async () => {
    // Run as nobody (when the tests run as root) from a copy anybody may read.
    const dir = mkdtempSync(path.join(tmpdir(), 'install-user-'));
    chmodSync(dir, 0o755);
    copyFileSync(INSTALL_BIN, path.join(dir, 'install'));
    chmodSync(path.join(dir, 'install'), 0o755);
    const asUser =
      process.getuid?.() === 0
        ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(dir, 'install')]]
        : [path.join(dir, 'install'), []];
    const r = spawnSync(asUser[0] as string, asUser[1] as string[], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('must run as root to install (sudo scripts/install)');

    const unknown = await runInstall(['--frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown option: --frobnicate');
    const missing = await runInstall(['--root', path.join(dir, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such directory');
    const help = await runInstall(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--dry-run');
  });
});
