/**
 * SIGHUP (`systemctl reload meterspace`): the gateway reads its configuration file again (issue #20). The file is
 * the on-site authority, so a reload may change what a restart with the same file would change, no more: it is
 * validated exactly as at start (schema, rules, key kinds) and checked against the device bindings as at start
 * (a file that re-points a bound meter is refused: re-homing is `scripts/gateway rehome`, on site). Meters it no
 * longer names are not retired, as a restart would not retire them. What it changes is applied as a remote command
 * is (live-config.ts): all or nothing, the previous drivers restored if the new ones cannot start. Changes that
 * need a restart are not applied at all, not even the live ones beside them (half a file is a configuration nobody
 * wrote); the log names them. An invalid file is logged with its code and the running configuration stays.
 */
import { loadConfigFile } from '../config/load.ts';
import { assertBindings } from '../devices/binding-rules.ts';
import { errorCode } from '../errors.ts';
import { assertKeyKinds } from '../keys/config-keys.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { changedPaths, classify } from './config-diff.ts';
import type { ConfigTarget } from './operator-service.ts';

export type ReloadOutcome =
  | { applied: 'unchanged' | 'live'; changed: string[] }
  | { applied: 'restart'; changed: string[]; restartRequired: string[] }
  | { applied: 'refused'; code: string };

export class LocalReload {
  constructor(
    private readonly file: string,
    private readonly target: ConfigTarget,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  /** Never throws: a refusal is counted, logged once with its code, and the running configuration stays. */
  async reload(): Promise<ReloadOutcome> {
    const run = () => this.apply();
    try {
      return await (this.target.exclusive ? this.target.exclusive(run) : run());
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`config.reload_refused.${code}`);
      this.log.error(
        { code, reason: (error as Error).message, file: this.file },
        'configuration reload refused: the running configuration stays',
      );
      return { applied: 'refused', code };
    }
  }

  private async apply(): Promise<ReloadOutcome> {
    const next = loadConfigFile(this.file);
    assertKeyKinds(next, this.file);
    const devices = this.target.devices?.();
    if (devices) assertBindings(next, devices.known, devices.realpath);
    const changed = changedPaths(this.target.running(), next);
    if (changed.length === 0) {
      this.metrics.inc('config.reload_unchanged');
      this.log.info({ file: this.file }, 'configuration reloaded: nothing changed');
      return { applied: 'unchanged', changed };
    }
    const { restart } = classify(changed);
    if (restart.length > 0) {
      this.metrics.inc('config.reload_needs_restart');
      this.log.warn(
        { changed, restartRequired: restart },
        'configuration reloaded: it changes settings that need a restart, so nothing was applied; restart the gateway',
      );
      return { applied: 'restart', changed, restartRequired: restart };
    }
    await this.target.preflight(next, true);
    await this.target.apply(next);
    this.metrics.inc('config.reload_applied');
    this.log.info({ changed }, 'configuration reloaded and applied');
    return { applied: 'live', changed };
  }
}
