/**
 * The gateway's files are private to its user, whatever the umask it was started with: the buffer holds the
 * households' sealed readings, their consent span seeds and the consent log (issue #14 C). scripts/install sets
 * modes too, but a gateway run by hand, from a container or by another service manager must not depend on it.
 *
 * Directories are created 0700 and files 0600. An existing one that is group- or world-accessible is tightened, and
 * the caller is told so it can warn: refusing to start would turn a loose mode (a `cp -r`, a restored backup) into
 * an outage of the data path, while the gateway, as the owner, can remove the exposure itself at once.
 */
import { chmodSync, closeSync, fchmodSync, fstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) 0700, or tightens it; returns whether an existing mode was too open. */
export function privateDir(dir: string): boolean {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  return tighten(dir, statSync(dir).mode, PRIVATE_DIR_MODE);
}

/**
 * Creates `file` empty 0600 if it does not exist (SQLite would create it 0644 and give its WAL and SHM the same
 * mode), or tightens it; returns whether an existing mode was too open. `mode` of open(2) is reduced by the umask,
 * so the mode is set explicitly on the descriptor as well.
 */
export function privateFile(file: string): boolean {
  const fd = openSync(file, 'a', PRIVATE_FILE_MODE);
  try {
    const mode = fstatSync(fd).mode;
    if ((mode & 0o777) === PRIVATE_FILE_MODE) return false;
    fchmodSync(fd, PRIVATE_FILE_MODE);
    return (mode & 0o077) !== 0;
  } finally {
    closeSync(fd);
  }
}

/** Tightens `file` only if it exists (a WAL or SHM left by the last run); returns whether it was too open. */
export function privateIfPresent(file: string): boolean {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return false;
  }
  return tighten(file, mode, PRIVATE_FILE_MODE);
}

function tighten(where: string, mode: number, wanted: number): boolean {
  if ((mode & 0o077) === 0) return false;
  chmodSync(where, wanted);
  return true;
}

/**
 * A SQLite database and its directory, WAL and SHM made private before SQLite opens them; returns the paths that
 * existed with a group- or world-accessible mode (now tightened).
 */
export function privateDatabase(file: string): string[] {
  const loose: string[] = [];
  const attempt = (where: string, make: () => boolean) => {
    try {
      if (make()) loose.push(where);
    } catch (error) {
      // A file system gone read-only: nothing can be created or changed there; SQLite's own first write then
      // reports it with what to do (observe/storage-status.ts). A directory of another owner (EPERM on chmod) is
      // that owner's choice: the files in it are still made private.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EROFS' && code !== 'EPERM') throw error;
    }
  };
  const dir = path.dirname(file);
  attempt(dir, () => privateDir(dir));
  attempt(file, () => privateFile(file));
  for (const side of [`${file}-wal`, `${file}-shm`]) attempt(side, () => privateIfPresent(side));
  return loose;
}
