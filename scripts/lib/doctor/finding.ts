/**
 * What a doctor check reports: one finding per line of output, OK, WARN or FAIL, and for a problem what to do.
 * A FAIL is something the gateway cannot start or run with; a WARN is something it runs with, but badly or not
 * for long.
 */
export type Status = 'OK' | 'WARN' | 'FAIL';

export interface Finding {
  status: Status;
  /** Short name of the check, e.g. "keys". */
  check: string;
  message: string;
  /** What to do about it (WARN and FAIL). */
  fix?: string;
}

export const ok = (check: string, message: string): Finding => ({ status: 'OK', check, message });

export const warn = (check: string, message: string, fix: string): Finding => ({
  status: 'WARN',
  check,
  message,
  fix,
});

export const fail = (check: string, message: string, fix: string): Finding => ({
  status: 'FAIL',
  check,
  message,
  fix,
});

/** Node's error code (ENOENT, EACCES ...) or the GatewayError code of a thrown error. */
export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** "1.2 GB", "350 MB", "96 kB": sizes as a technician reads them. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${Math.floor(bytes / 1e6)} MB`;
  return `${Math.ceil(bytes / 1e3)} kB`;
}
