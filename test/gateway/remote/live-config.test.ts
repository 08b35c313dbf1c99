/**
 * One configuration change at a time (issue #20): a SIGHUP reload and a remote command each run only once the other
 * has finished, whether it succeeded or failed, so neither applies a configuration computed from one the other has
 * since replaced. A command's membership change is recorded: removed ids retired, added meters recorded as added by a
 * command (issue #14 A).
 */
import { describe, expect, it } from 'vitest';
import type { Config, MeterConfig } from '../../../gateway/config/schema.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { LiveConfig, type LiveParts } from '../../../gateway/remote/live-config.ts';
import { makeKeySet } from '../../helpers/keys.ts';
import { makeScenario } from '../../helpers/scenario.ts';
import { loadConfigFile } from '../../../gateway/config/load.ts';

/** A scenario's configuration, loaded as the gateway loads it. */
async function scenarioConfig(): Promise<Config> {
  const keys = await makeKeySet();
  return loadConfigFile(
    makeScenario({
      keys,
      brokerUrl: 'mqtt://127.0.0.1:9',
      from: '2012-10-09T00:00:00Z',
      to: '2012-10-09T01:00:00Z',
      speed: 1,
    }).configFile,
  );
}

describe('LiveConfig.exclusive', () => {
  it('runs changes one after the other, a failed one included', async () => {
    const config = await scenarioConfig();
    // exclusive() touches none of the parts.
    const live = new LiveConfig(config, {} as LiveParts, silentLogger());
    const events: string[] = [];
    let finishFirst: () => void = () => undefined;
    const first = live.exclusive(async () => {
      events.push('first begins');
      await new Promise<void>((resolve) => (finishFirst = resolve));
      events.push('first fails');
      throw new Error('drivers did not start');
    });
    const second = live.exclusive(() => {
      events.push('second runs');
      return Promise.resolve('second done');
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(events).toEqual(['first begins']);
    finishFirst();
    await expect(first).rejects.toThrow('drivers did not start');
    await expect(second).resolves.toBe('second done');
    expect(events).toEqual(['first begins', 'first fails', 'second runs']);
  }, 120_000);
});

describe('LiveConfig.recordAdded and retireRemoved', () => {
  it('retires what the new configuration drops and records what it adds', async () => {
    const running = await scenarioConfig();
    const [dropped, ...kept] = running.meters;
    const added: MeterConfig = { ...kept[0]!, id: 'x1' };
    const next: Config = { ...running, meters: [...kept, added] };
    const retired: string[][] = [];
    const commanded: string[][] = [];
    const parts = {
      retire: (meters: readonly MeterConfig[]) => retired.push(meters.map((m) => m.id)),
      commanded: (meters: readonly MeterConfig[]) => commanded.push(meters.map((m) => m.id)),
    } as unknown as LiveParts;
    const live = new LiveConfig(running, parts, silentLogger());
    live.recordAdded(running, next);
    expect(commanded).toEqual([['x1']]);
    expect(retired).toEqual([]);
    live.retireRemoved(running, next);
    expect(retired).toEqual([[dropped!.id]]);
    expect(commanded).toEqual([['x1']]);
  }, 120_000);
});
