/**
 * One pino logger; each component takes a child (`log-levels.ts`). Secrets are redacted by field name at any
 * depth, and credentials in URLs are cut out (`redact.ts`).
 * Privacy invariant 1: no plaintext reading is ever passed to a logger — log meter ids, intervals and error codes.
 */
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { PRIVATE_DIR_MODE, privateFile } from '../buffer/private-files.ts';
import { redactSecrets } from './redact.ts';

export type { Logger };

export interface LogOptions {
  level: string;
  /** Log file; stdout when absent. */
  file?: string;
}

export function createLogger(opts: LogOptions): Logger {
  return pino(
    {
      level: opts.level,
      base: undefined,
      formatters: { log: redactSecrets },
    },
    opts.file ? pino.destination({ fd: openLogFile(opts.file), sync: false }) : pino.destination(1),
  );
}

/**
 * Opened here, synchronously: a destination given a path opens it in the background, and a gateway that fails
 * within that moment (a refused key) crashed at exit with "sonic boom is not ready yet" after its one-line error.
 */
function openLogFile(file: string): number {
  // Logs name meters and households' request ids: private like the buffer (mode 0600, whatever the umask). A
  // log directory that exists is the administrator's (/var/log/...), so only a new one is made 0700.
  mkdirSync(path.dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  privateFile(file);
  return openSync(file, 'a');
}

/** A logger that discards everything, for tests of components that are not about logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
