/**
 * A token bucket: up to `burst` actions at once, refilled at `perSecond`. The customer service answers
 * refusals within it, so that a flood of bad requests on the broker costs the gateway a count, not a signed
 * reply each.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Takes a token if there is one. */
  take(): boolean {
    const now = this.now();
    // A clock stepped back refills nothing (rather than owing tokens for hours); stepped forward, at most `burst`.
    const elapsed = Math.max(0, now - this.at);
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
