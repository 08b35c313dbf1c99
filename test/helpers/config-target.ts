/**
 * A stand-in for the running gateway as the configuration paths see it (remote/operator-service.ts ConfigTarget):
 * it starts on `file`, records every configuration it is asked to apply and, on demand, fails to apply one as new
 * drivers that cannot start would (the real LiveConfig then restores the previous ones).
 */
import { loadConfigFile } from '../../gateway/config/load.ts';
import type { Config } from '../../gateway/config/schema.ts';
import { GatewayError } from '../../gateway/errors.ts';
import type { ConfigTarget } from '../../gateway/remote/operator-service.ts';

export function recordingTarget(file: string, opts: { failApply?: boolean } = {}) {
  const applied: Readonly<Config>[] = [];
  let running = loadConfigFile(file);
  const target: ConfigTarget = {
    running: () => running,
    preflight: () => Promise.resolve(),
    apply: (next) => {
      if (opts.failApply) return Promise.reject(new GatewayError('SERIAL_PORT_FAILED', 'no /dev/ttyUSB9'));
      applied.push(next);
      running = next;
      return Promise.resolve();
    },
  };
  return { target, applied, running: () => running };
}
