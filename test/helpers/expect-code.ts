import { expect } from 'vitest';
import { isGatewayError, type ErrorCode } from '../../gateway/errors.ts';

/** Asserts that `fn` throws a GatewayError with exactly this code. */
export function expectCode(code: ErrorCode, fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isGatewayError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}
