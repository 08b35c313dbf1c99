/** A promise that rejects with `error()` after `ms` (race it against an answer), and its cancellation. */
export function deadline(ms: number, error: () => Error): { expired: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return { expired, clear: () => clearTimeout(timer) };
}
