import { describe, expect, it } from 'vitest';
import { epsilonFor, noisePlan, rhoFor, sigmaOf } from '../../../gateway/aggregate/noise-plan.ts';
import { expectCode } from '../../helpers/expect-code.ts';

describe('noise accounting', () => {
  it('converts between zCDP and (ε, δ) (Bun–Steinke Prop. 1.3), both ways', () => {
    // ρ = 0.5, δ = 1e-6: ε = 0.5 + 2·√(0.5·ln 10^6) = 0.5 + 2·√6.9078 = 5.7565.
    expect(epsilonFor(0.5, 1e-6)).toBeCloseTo(5.7565, 4);
    expect(rhoFor(5.7565, 1e-6)).toBeCloseTo(0.5, 4);
  });

  it('solves σ² = Δ²·R/(2ρ_day), rounded up, and spends no more than the budget', () => {
    const plan = noisePlan({ epsilonPerDay: 5.7565, deltaPerDay: 1e-6, clipWh: 100, intervalMinutes: 30 });
    // ρ_day ≈ 0.5, R = 48: σ² ≈ 100²·48/1 = 480 000.
    expect(plan.releasesPerDay).toBe(48);
    expect(Number(plan.sigma2.num) / Number(plan.sigma2.den)).toBeGreaterThanOrEqual(
      (100 * 100 * 48) / (2 * rhoFor(5.7565, 1e-6)),
    );
    expect(sigmaOf(plan)).toBeCloseTo(Math.sqrt(480_000), -1);
    expect(epsilonFor(plan.rhoPerDay, 1e-6)).toBeLessThanOrEqual(5.7565);
    // B = Δ + ⌈13σ⌉.
    expect(Number(plan.bound)).toBeGreaterThanOrEqual(100 + 13 * sigmaOf(plan));
    expect(Number(plan.bound)).toBeLessThanOrEqual(100 + 13 * sigmaOf(plan) + 2);
  });

  it('costs accuracy with shorter intervals: 15 minutes need √2 times the noise of 30', () => {
    const settings = { epsilonPerDay: 10, deltaPerDay: 1e-6, clipWh: 500 };
    const half = sigmaOf(noisePlan({ ...settings, intervalMinutes: 30 }));
    const quarter = sigmaOf(noisePlan({ ...settings, intervalMinutes: 15 }));
    expect(quarter / half).toBeCloseTo(Math.SQRT2, 3);
  });

  it('refuses budgets and clips it cannot honour', () => {
    expectCode('CONFIG_INVALID', () =>
      noisePlan({ epsilonPerDay: 0, deltaPerDay: 1e-6, clipWh: 1, intervalMinutes: 30 }),
    );
    expectCode('CONFIG_INVALID', () =>
      noisePlan({ epsilonPerDay: 1, deltaPerDay: 1, clipWh: 1, intervalMinutes: 30 }),
    );
    expectCode('CONFIG_INVALID', () =>
      noisePlan({ epsilonPerDay: 1, deltaPerDay: 1e-6, clipWh: 0.5, intervalMinutes: 30 }),
    );
  });
});
