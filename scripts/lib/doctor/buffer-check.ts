/**
 * The SQLite buffer, if it exists: writable by this user (a trial run as root leaves it owned by root), of a
 * schema this gateway knows, passing SQLite's quick_check (else BUFFER_CORRUPT and the recovery steps) and not
 * behind its marker (BUFFER_BEHIND_MARKER, issue #20), read on a read-only connection so that the doctor can run
 * beside a running gateway (it names it: the data directory's lock, probed without being held). Its directory and files group- or world-accessible are a WARN: the
 * gateway tightens them itself at start (gateway/buffer/private-files.ts).
 */
import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { isCorruption } from '../../../gateway/buffer/corruption.ts';
import { lockHolder } from '../../../gateway/buffer/data-dir-lock.ts';
import { compareWithMarker } from '../../../gateway/buffer/marker-check.ts';
import { EMPTY_MARK, markOf, readMarker } from '../../../gateway/buffer/marker.ts';
import { MIGRATIONS } from '../../../gateway/buffer/migrations.ts';
import type { Config } from '../../../gateway/config/schema.ts';
import { bindingIssuesReadOnly } from '../../../gateway/devices/on-site.ts';
import { fail, formatBytes, messageOf, ok, warn, type Finding } from './finding.ts';

const modeOf = (f: string) => (statSync(f).mode & 0o777).toString(8).padStart(4, '0');

export function checkBuffer(file: string, user: string): Finding {
  if (!existsSync(file)) return ok('buffer', `${file} does not exist yet (created at the first start)`);
  const dir = path.dirname(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`].filter((f) => existsSync(f))) {
    try {
      accessSync(f, constants.R_OK | constants.W_OK);
    } catch {
      return fail('buffer', `${f} is not writable by ${user}`, `sudo chown -R ${user}: ${dir}`);
    }
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      return fail(
        'buffer',
        `${file} has schema version ${version}, newer than this gateway knows (${MIGRATIONS.length})`,
        'install the newer gateway version again; an older one cannot use this buffer',
      );
    }
    const result = db.pragma('quick_check', { simple: true }) as string;
    if (result !== 'ok') return corrupt(file, `fails SQLite's quick_check: ${result}`);
    // Behind its marker (lost WAL, replaced file): the gateway refuses to start on it (exit 3).
    const verdict = compareWithMarker(version === 0 ? EMPTY_MARK : markOf(db), readMarker(dir));
    if (verdict.kind === 'behind') {
      return fail(
        'buffer',
        `${file}: [BUFFER_BEHIND_MARKER] ${verdict.missing}`,
        `keep a copy of ${dir}; bring the files back if you can, else start once with --accept-data-loss ` +
          '(docs/reliability.md, "A buffer behind its marker")',
      );
    }
    const size = statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    const holder = lockHolder(dir);
    const running =
      holder === undefined ? '' : `, in use by the running gateway${holder > 0 ? ` (PID ${holder})` : ''}`;
    const summary = `${file}: schema ${version}, quick_check ok, ${formatBytes(size)}${running}`;
    // The buffer holds households' sealed readings and consent span seeds: private to the gateway's user.
    const loose = [dir, file, `${file}-wal`, `${file}-shm`].filter(
      (f) => existsSync(f) && (statSync(f).mode & 0o077) !== 0,
    );
    if (loose.length > 0) {
      return warn(
        'buffer',
        `${summary}; group- or world-accessible: ${loose.map((f) => `${f} (${modeOf(f)})`).join(', ')}`,
        `the gateway makes them 0700/0600 at its next start (and warns); now: sudo chmod 700 ${dir} && ` +
          `sudo chmod 600 ${file}*`,
      );
    }
    return ok('buffer', summary);
  } catch (error) {
    if (isCorruption(error)) return corrupt(file, messageOf(error));
    return fail(
      'buffer',
      `${file}: ${messageOf(error)}`,
      `check the file; stop the gateway and keep a copy of ${dir}`,
    );
  } finally {
    db?.close();
  }
}

/** A corrupt buffer: what the gateway says too (BUFFER_CORRUPT) and the recovery steps. */
function corrupt(file: string, what: string): Finding {
  return fail(
    'buffer',
    `[BUFFER_CORRUPT] ${file}: ${what}`,
    `stop the gateway, keep a copy of ${path.dirname(file)}, salvage with sqlite3 ".recover" and start with ` +
      '--accept-data-loss (docs/buffer.md, "Recovering a corrupt buffer")',
  );
}

/** The configuration against the meters this gateway has bound (issue #14; docs/fleet.md "Membership …"). */
export function checkDeviceBindings(config: Readonly<Config>): Finding {
  try {
    const issues = bindingIssuesReadOnly(config);
    if (issues.length === 0) return ok('devices', 'every meter matches the device it is bound to');
    return fail(
      'devices',
      issues.map((i) => `${i.path}: [${i.code ?? 'DEVICE_BOUND_ELSEWHERE'}] ${i.message}`).join('; '),
      'put the meters back as they were bound, or re-home a replaced or moved meter on site (scripts/gateway rehome)',
    );
  } catch (error) {
    // The buffer check has failed already for an unreadable file: one failure, not two.
    return warn(
      'devices',
      `the device bindings could not be read: ${messageOf(error)}`,
      'see the buffer check',
    );
  }
}
