/**
 * One pino logger; each component takes a child (`log-levels.ts`). Secrets are redacted by field name at any
 * depth, and credentials in URLs are cut out (`redact.ts`).
 * Privacy invariant 1: no plaintext reading is ever passed to a logger — log meter ids, intervals and error codes.
 */
import pino, { type Logger } from 'pino';
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
    opts.file ? pino.destination({ dest: opts.file, mkdir: true, sync: false }) : pino.destination(1),
  );
}

/** A logger that discards everything, for tests of components that are not about logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
