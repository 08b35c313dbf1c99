/**
 * The service manager's notification protocol (sd_notify(3)) for the gateway run as a systemd service with
 * `Type=notify` and `WatchdogSec=` (config/systemd/meterspace.service): READY=1 once the gateway has started,
 * WATCHDOG=1 every half WATCHDOG_USEC while the event loop runs, STOPPING=1 when it stops.
 *
 * Node has no unix datagram sockets, so each message is sent by systemd-notify(1), a child process; that is why
 * the unit sets NotifyAccess=all. systemd-notify waits until the manager has read the message (its barrier,
 * systemd ≥ 246), so the manager still finds the sender in the service's cgroup.
 *
 * The watchdog ping is a timer of the main event loop and nothing else: when the loop is stuck (a synchronous
 * loop, a blocked native call) no timer fires, no ping goes out, and systemd kills and restarts the gateway.
 */
import { spawn } from 'node:child_process';
import type { Logger } from './log.ts';

/** The variables systemd sets for a notify service (systemd.exec(5), "Environment variables set by systemd"). */
export interface NotifyEnv {
  NOTIFY_SOCKET?: string;
  WATCHDOG_USEC?: string;
  WATCHDOG_PID?: string;
}

export interface NotifierOptions {
  /** Environment passed to systemd-notify; it must hold NOTIFY_SOCKET. */
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Ping period; undefined: no watchdog. */
  watchdogMs?: number;
  /** The notify tool (default systemd-notify from PATH). */
  command?: string;
}

/** Half the watchdog timeout, as sd_watchdog_enabled(3) advises; undefined when the watchdog is off or not ours. */
export function watchdogIntervalMs(env: NotifyEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export class SystemdNotifier {
  private timer: NodeJS.Timeout | undefined;
  private pingInFlight = false;
  private stopped = false;
  private readonly failuresLogged = new Set<string>();

  constructor(private readonly opts: NotifierOptions) {}

  /** A notifier when the process runs under a service manager that listens (NOTIFY_SOCKET set), else undefined. */
  static fromEnv(env: NodeJS.ProcessEnv, log: Logger, pid = process.pid): SystemdNotifier | undefined {
    if (!env.NOTIFY_SOCKET) return undefined;
    return new SystemdNotifier({ env, log, watchdogMs: watchdogIntervalMs(env, pid) });
  }

  /** Tells the manager the gateway has started, and starts the watchdog pings. */
  ready(): void {
    if (this.stopped) return;
    void this.send(['READY=1', 'STATUS=running']);
    const every = this.opts.watchdogMs;
    if (every !== undefined) this.timer = setInterval(() => this.ping(), every);
    this.opts.log.info({ watchdogMs: every }, 'service manager notified: ready');
  }

  /** Stops the pings and tells the manager the gateway is stopping; resolves once the message is sent. */
  stopping(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    return this.send(['STOPPING=1', 'STATUS=stopping']);
  }

  private ping(): void {
    // One ping at a time: a manager too busy to read the last one gains nothing from a queue of them.
    if (this.pingInFlight) return;
    this.pingInFlight = true;
    void this.send(['WATCHDOG=1']).finally(() => (this.pingInFlight = false));
  }

  /** Runs systemd-notify with the assignments; never rejects (a failure is logged once per kind). */
  private send(assignments: string[]): Promise<void> {
    return new Promise((resolve) => {
      const child = spawn(this.opts.command ?? 'systemd-notify', assignments, {
        env: this.opts.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let spawnError: string | undefined;
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
      child.once('error', (error) => (spawnError = error.message));
      child.once('close', (code, signal) => {
        const reason = spawnError ?? (code === 0 ? undefined : stderr.trim() || `exit ${code ?? signal}`);
        if (reason !== undefined) this.failed(assignments[0]!, reason);
        resolve();
      });
    });
  }

  private failed(message: string, reason: string): void {
    const key = `${message}:${reason}`;
    if (this.failuresLogged.has(key)) return;
    this.failuresLogged.add(key);
    this.opts.log.error(
      { message, reason },
      'cannot notify the service manager (is systemd-notify installed? Type=notify needs it)',
    );
  }
}
