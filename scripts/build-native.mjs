// Builds tsov-helper's native piece (helper/native/tsov-mount.c,
// why: see its header and the README) next to the compiled helper. Run by
// `npm run build` after tsc. Needs a C compiler (Debian: gcc, libc6-dev).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

const source = new URL('../helper/native/tsov-mount.c', import.meta.url).pathname;
const output = new URL('../dist/helper/native/tsov-mount', import.meta.url).pathname;
fs.mkdirSync(new URL('../dist/helper/native/', import.meta.url), { recursive: true });
const cc = process.env.CC ?? 'cc';
const flags = ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-fPIE', '-pie', '-Wl,-z,relro,-z,now'];
const result = spawnSync(cc, [...flags, '-o', output, source], { stdio: 'inherit' });
if (result.error !== undefined) {
  console.error(`build-native: cannot run ${cc} (${result.error.message}); install a C compiler: apt-get install gcc libc6-dev`);
  process.exit(1);
}
if (result.status !== 0) process.exit(result.status ?? 1);
