/**
 * The cost of noise per neighbourhood release (docs/privacy.md §Noise): one exact discrete Gaussian draw with the
 * default plan plus the mask, and one encryption of them (the `native` engine, randomizer computed in the call).
 * Paid once per (neighbourhood, interval), not per reading.
 */
import { noisePlan } from '../../../gateway/aggregate/noise-plan.ts';
import { ConfigSchema } from '../../../gateway/config/schema.ts';
import { IntegerSampler } from '../../../gateway/encrypt/discrete-gaussian.ts';
import { startEngine } from '../../../gateway/encrypt/engine-factory.ts';
import type { PaillierPublicKey } from '../../../gateway/encrypt/paillier.ts';

export interface NoiseResult {
  bits: number;
  samples: number;
  /** The draw alone. */
  cpuMsPerDraw: number;
  /** Draw, mask and one encryption: what a release adds. */
  cpuMsPerRelease: number;
}

export async function benchNoise(key: PaillierPublicKey, samples: number): Promise<NoiseResult> {
  const defaults = ConfigSchema.shape.privacy.parse({}).noise;
  const plan = noisePlan({ ...defaults, intervalMinutes: 15 });
  const sampler = new IntegerSampler();
  const handle = await startEngine(
    ConfigSchema.shape.encryption.parse({ engine: 'native', poolSize: 0 }),
    key,
  );
  const shift = 300n;
  const time = (fn: () => void) => {
    const cpu = process.cpuUsage();
    for (let i = 0; i < samples; i++) fn();
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / 1000 / samples;
  };
  const cpuMsPerDraw = time(() => sampler.truncatedGaussian(plan.sigma2, plan.bound));
  const cpuMsPerRelease = time(() => {
    const eta = sampler.truncatedGaussian(plan.sigma2, plan.bound);
    handle.engine.encrypt(sampler.uniform(1n << (shift - 2n)) + ((plan.bound + eta) << shift));
  });
  await handle.stop();
  return { bits: key.bits, samples, cpuMsPerDraw, cpuMsPerRelease };
}
