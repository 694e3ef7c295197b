/**
 * `npm ci --omit=dev && npm start` is enough to run Gatewatch (the README says so): everything the
 * bundle imports at run time, and the tools `npm start` runs (esbuild), are dependencies, not
 * devDependencies. The bundle is built here with the same entry points as `npm run build`.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/proc.js';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');

describe('running without the development dependencies', () => {
  it('every package the bundle imports, and the bundler npm start runs, is a dependency', async () => {
    // The entry points of `npm run build`, as package.json names them.
    const entries = Object.fromEntries([...pkg.scripts.build.matchAll(/(\S+)=(src\/\S+\.ts)/g)].map((m) => [m[1], join(REPO_ROOT, m[2])]));
    expect(Object.keys(entries)).toEqual(['main', 'probe.worker']);
    const result = await build({ entryPoints: entries, bundle: true, platform: 'node', format: 'esm', packages: 'external', write: false, metafile: true, outdir: join(REPO_ROOT, 'dist-check'), logLevel: 'silent' });
    const external = new Set<string>();
    for (const input of Object.values(result.metafile.inputs)) {
      for (const imp of input.imports) if (imp.external) external.add(imp.path);
    }
    const builtins = new Set(builtinModules);
    const packages = [...new Set([...external].filter((p) => !p.startsWith('node:') && !builtins.has(p)).map(packageOf))].sort();
    expect(packages.length).toBeGreaterThan(3);
    expect(packages.filter((p) => !(p in pkg.dependencies))).toEqual([]);
    // npm start bundles first (prestart), with esbuild; the CLI runs the TypeScript through tsx.
    expect(pkg.scripts.prestart).toContain('build');
    expect(pkg.scripts.build).toMatch(/^esbuild /);
    expect(pkg.dependencies).toHaveProperty('esbuild');
    expect(pkg.dependencies).toHaveProperty('tsx');
    expect(readFileSync(join(REPO_ROOT, 'bin/gatewatch.js'), 'utf8')).toContain('tsx');
  });
});
