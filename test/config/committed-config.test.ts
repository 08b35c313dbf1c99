/** The committed configuration artefacts agree with the schema: the example validates, the docs are current. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../gateway/config/load.ts';
import { configJsonSchema, configReferenceMarkdown } from '../../scripts/lib/config-reference.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('committed configuration files', () => {
  it('config/gateway.example.yaml is valid', () => {
    const config = loadConfigFile(path.join(ROOT, 'config/gateway.example.yaml'));
    expect(config.meters.length).toBeGreaterThan(0);
    expect(config.privacy.k).toBeGreaterThanOrEqual(config.privacy.kFloor);
  });

  it('docs/configuration.md is generated from the current schema (npm run docs:config)', () => {
    expect(readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8')).toBe(configReferenceMarkdown());
  });

  it('config/gateway.schema.json is generated from the current schema (npm run docs:config)', () => {
    expect(JSON.parse(readFileSync(path.join(ROOT, 'config/gateway.schema.json'), 'utf8'))).toEqual(
      configJsonSchema(),
    );
  });

  it('documents every top-level section', () => {
    const doc = configReferenceMarkdown();
    for (const section of [
      'gateway',
      'clock',
      'privacy',
      'intervals',
      'billing',
      'encryption',
      'keys',
      'upstream',
      'buffer',
      'drivers',
      'neighbourhoods',
      'meters',
    ]) {
      expect(doc).toContain(`| \`${section}\` |`);
    }
  });
});
