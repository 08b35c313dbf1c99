/**
 * The SQLite buffer, if it exists: writable by this user (a trial run as root leaves it owned by root), of a
 * schema this gateway knows, and passing SQLite's quick_check, read on a read-only connection so that the
 * doctor can run beside a running gateway.
 */
import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { MIGRATIONS } from '../../../gateway/buffer/migrations.ts';
import { fail, formatBytes, messageOf, ok, type Finding } from './finding.ts';

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
    if (result !== 'ok') {
      return fail(
        'buffer',
        `${file} fails SQLite's quick_check: ${result}`,
        `stop the gateway, keep a copy of ${dir}, and ask for help (docs/buffer.md); moving the files away ` +
          'starts an empty buffer, losing the batches not yet acknowledged',
      );
    }
    const size = statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    return ok('buffer', `${file}: schema ${version}, quick_check ok, ${formatBytes(size)}`);
  } catch (error) {
    return fail(
      'buffer',
      `${file}: ${messageOf(error)}`,
      `check the file; stop the gateway and keep a copy of ${dir}`,
    );
  } finally {
    db?.close();
  }
}
