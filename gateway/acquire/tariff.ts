/**
 * Time-of-day tariff bands: which band an interval belongs to, by the local time its interval starts at.
 * The config validator guarantees the bands cover each minute of the day exactly once.
 */
import { windowMinutes } from '../config/rules.ts';
import type { TariffBandConfig } from '../config/schema.ts';
import { minuteOfDay } from '../time/zoned.ts';

export class TariffBands {
  private readonly bandOfMinute: Uint8Array;
  readonly names: readonly string[];

  constructor(
    bands: readonly TariffBandConfig[],
    private readonly timeZone: string,
  ) {
    this.names = bands.map((b) => b.name);
    this.bandOfMinute = new Uint8Array(1440);
    bands.forEach((band, i) => {
      for (const w of band.windows) for (const m of windowMinutes(w)) this.bandOfMinute[m] = i;
    });
  }

  /** Index of the band of the interval starting at `epochMs`. */
  bandAt(epochMs: number): number {
    return this.bandOfMinute[minuteOfDay(epochMs, this.timeZone)]!;
  }
}
