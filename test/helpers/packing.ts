/** Packing for tests that build a layout by hand (gateway/encrypt/packing.ts). */
import type { PackingLayout } from '../../gateway/encrypt/packing.ts';

/** Release-field bounds for layoutFor. */
export const RELEASE_BOUNDS = { clipWh: 5_000, maxMetersPerRelease: 1_000, noiseBound: 100_000n } as const;

/** A 40-bit three-slot layout (total, peak, offpeak), its release field where layoutFor would put it. */
export const LAYOUT_40: PackingLayout = {
  slotBits: 40,
  slots: ['total', 'peak', 'offpeak'],
  releaseShift: 40 * 3 + 130,
  clipWh: 5_000,
  billMaskBits: 160,
};
