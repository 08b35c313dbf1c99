/**
 * The data directory: writable by this user (else the buffer cannot be opened) and with room on its file
 * system. A full disk does not corrupt the buffer, but every reading is then rejected (docs/buffer.md).
 */
import { accessSync, constants, existsSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { fail, formatBytes, ok, warn, type Finding } from './finding.ts';

/** Below this much free space the doctor warns: days, not months, of buffer at the measured write rates. */
export const MIN_FREE_BYTES = 200e6;

export function checkDisk(dataDir: string, user: string): Finding {
  // The gateway creates a missing data directory; then what matters is the nearest existing parent.
  let dir = dataDir;
  while (!existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return fail(
      'disk',
      dir === dataDir
        ? `${dataDir} is not writable by ${user}`
        : `${dataDir} is missing and ${dir} is not writable`,
      `sudo install -d -o ${user} -g ${user} -m 0700 ${dataDir}` +
        (dir === dataDir ? ` (or: sudo chown -R ${user}: ${dataDir})` : ''),
    );
  }
  const s = statfsSync(dir);
  const free = s.bavail * s.bsize;
  const where = dir === dataDir ? dataDir : `${dataDir} (not created yet; ${dir})`;
  if (free < MIN_FREE_BYTES) {
    return warn(
      'disk',
      `${formatBytes(free)} free for ${where}`,
      'free some space (sudo journalctl --vacuum-size=100M, sudo apt-get clean) or move the data directory to ' +
        'a larger disk (docs/raspberry-pi.md §7)',
    );
  }
  return ok('disk', `${formatBytes(free)} free for ${where}`);
}
