/**
 * npm run docs:config — regenerates docs/configuration.md and config/gateway.schema.json from the schema.
 * With --check, exits 1 when either is out of date (CI runs the check through the test suite).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configJsonSchema, configReferenceMarkdown } from './lib/config-reference.ts';
import { runCli } from './lib/cli.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
export const OUTPUTS = {
  [path.join(ROOT, 'docs', 'configuration.md')]: () => configReferenceMarkdown(),
  [path.join(ROOT, 'config', 'gateway.schema.json')]: () =>
    `${JSON.stringify(configJsonSchema(), null, 2)}\n`,
};

async function main(argv: string[]): Promise<void> {
  const check = argv.includes('--check');
  for (const [file, render] of Object.entries(OUTPUTS)) {
    const want = render();
    let have = '';
    try {
      have = readFileSync(file, 'utf8');
    } catch {
      // missing: written below, or reported by --check
    }
    if (have === want) continue;
    if (check) {
      console.error(`${path.relative(ROOT, file)} is out of date: run npm run docs:config`);
      process.exitCode = 1;
    } else {
      writeFileSync(file, want);
      console.log(`wrote ${path.relative(ROOT, file)}`);
    }
  }
  return Promise.resolve();
}

runCli(main);
