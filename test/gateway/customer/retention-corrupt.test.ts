/**
 * Nothing is deleted from a corrupt buffer (issue #20): the households' tick keeps history past its retention (and
 * the closed spans' old marks) while the gateway says the buffer is corrupt, and deletes them once it is not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { customerUnderTest, FUZZ_T } from '../../helpers/services.ts';

const DAY = 86_400_000;

describe('the households tick on a corrupt buffer', () => {
  let close: (() => void) | undefined;
  afterEach(() => close?.());

  it('keeps history past its retention while told not to prune, and deletes it after', () => {
    const c = customerUnderTest();
    close = c.close;
    const old = FUZZ_T - 40 * DAY; // historyDays is 30
    c.buffer.history.add([{ meterId: 'm1', start: old, end: old + 1_800_000, pseudonym: 'p1', sealed: 'x' }]);
    c.service.tick(FUZZ_T, false);
    expect(c.buffer.history.count('m1', 'p1')).toBe(1);
    c.service.tick(FUZZ_T);
    expect(c.buffer.history.count('m1', 'p1')).toBe(0);
    expect(c.metrics.get('customer.history_pruned')).toBe(1);
  });
});
