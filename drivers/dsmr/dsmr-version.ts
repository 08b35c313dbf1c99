/**
 * The DSMR P1 variants this driver knows, as far as the bytes on the line differ: speed and character format
 * (`line-settings.ts`), CRC or not, which header lines and which number widths (`telegram-writer.ts`).
 */
export type DsmrVersion = '2.2' | '3.0' | '4.0' | '4.2' | '5.0' | '5.0.2-be';

export const DSMR_VERSIONS: readonly DsmrVersion[] = ['2.2', '3.0', '4.0', '4.2', '5.0', '5.0.2-be'];

/** DSMR 2.2 and 3.0 end the data with "!" alone; 4.0 and later add a CRC (P1 3.0 §5.2, P1 4.2.2 §5.2). */
export function hasCrc(version: DsmrVersion): boolean {
  return version !== '2.2' && version !== '3.0';
}
