// Reading and writing the files a command names, with errors that say which file and why.

import { readFileSync, writeFileSync } from 'node:fs';
import { GradlensError } from '../engine/index.js';

export class CliFileError extends GradlensError {}

export function readFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliFileError(`cannot read the ${what} '${path}': ${reason(e)}`);
  }
}

export function writeFile(path: string, bytes: Uint8Array, what: string): void {
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new CliFileError(`cannot write the ${what} '${path}': ${reason(e)}`);
  }
}

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  return (e as Error).message;
}
