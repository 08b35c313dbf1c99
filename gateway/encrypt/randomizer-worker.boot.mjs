// Starts the randomizer worker from its TypeScript source (tsx's API; used when running without a build).
// Node 20 does not apply `--import` loader hooks inside worker threads, so the worker loads itself this way.
import { tsImport } from 'tsx/esm/api';

await tsImport('./randomizer-worker.ts', import.meta.url);
