// The independent plaintext sums live with the demo, which prints them too; tests use the same code.
export * from '../../scripts/lib/reference-sums.ts';
