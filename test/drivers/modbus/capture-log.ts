/** A pino logger that keeps its entries in memory, for tests that check what a driver reports and how often. */
import pino from 'pino';
import type { Logger } from '../../../gateway/observe/log.ts';

export interface LogEntry {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface CapturedLog {
  log: Logger;
  entries: LogEntry[];
  /** Entries whose message starts with `prefix`, optionally only those about one meter. */
  find(prefix: string, meter?: string): LogEntry[];
}

export function captureLog(): CapturedLog {
  const entries: LogEntry[] = [];
  const log = pino(
    { level: 'debug', base: undefined },
    { write: (line: string) => void entries.push(JSON.parse(line) as LogEntry) },
  );
  const find = (prefix: string, meter?: string) =>
    entries.filter((e) => e.msg.startsWith(prefix) && (meter === undefined || e.meter === meter));
  return { log, entries, find };
}
