export * from '../../scripts/lib/plaintext-scan.ts';
