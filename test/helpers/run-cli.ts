/** Runs one of the project's command-line tools as a user would, collecting its exit code and output. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

const exec = promisify(execFile);

export async function runCli(bin: string, args: string[], timeoutMs = 60_000): Promise<CliRun> {
  try {
    const { stdout, stderr } = await exec(bin, args, { timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}
