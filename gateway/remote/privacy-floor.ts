/**
 * What remote configuration may never do (DESIGN.md invariant 4; issue #6): lower the local privacy floor.
 * `privacy.kFloor` and every key file are set only in the local file (k itself may move, never below kFloor:
 * the schema's rule); a billing period may not become shorter, nor cost-only bills reveal their bands again,
 * nor their prices change.
 * Each violation is reported with its path and reason.
 */
import type { ConfigIssue } from '../config/rules.ts';
import type { Config } from '../config/schema.ts';
import { changedPaths } from './config-diff.ts';

const PERIOD_DAYS = { daily: 1, weekly: 7, monthly: 28 } as const;

export function floorViolations(running: Readonly<Config>, next: Readonly<Config>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (next.privacy.kFloor !== running.privacy.kFloor) {
    issues.push({
      path: 'privacy.kFloor',
      message: `is set only in the gateway's local file (${running.privacy.kFloor}), never remotely`,
    });
  }
  for (const path of changedPaths(running.keys, next.keys, 'keys')) {
    issues.push({
      path,
      message:
        "key files (supplier, gateway, MDMS, operator, households' enrolment codes) are set only locally",
    });
  }
  if (PERIOD_DAYS[next.billing.period] < PERIOD_DAYS[running.billing.period]) {
    issues.push({
      path: 'billing.period',
      message: `may not become shorter remotely (${running.billing.period} → ${next.billing.period})`,
    });
  }
  const reveal = (c: Readonly<Config>) => c.billing.reveal;
  if (reveal(running) === 'cost-only' && reveal(next) !== 'cost-only') {
    issues.push({
      path: 'billing.reveal',
      message: 'cost-only bills may not be turned back into bills by band remotely',
    });
  }
  // With cost-only bills the prices decide what the amount reveals (prices 1 and 10^6 would spell out each
  // band's Wh): they are set only locally then.
  if (reveal(running) === 'cost-only') {
    for (const path of changedPaths(running.billing.bands, next.billing.bands, 'billing.bands')) {
      issues.push({ path, message: 'tariff bands and prices of cost-only bills are set only locally' });
    }
  }
  return issues;
}
