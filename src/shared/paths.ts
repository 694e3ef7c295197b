import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the package (where `package.json` and `migrations/` are), found by walking up from
 * this module: the same from `src/shared/` under tsx and from a bundle in `dist/`.
 */
export function packageRoot(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package root (package.json beside migrations/) above ${fileURLToPath(from)}`);
    dir = up;
  }
}
