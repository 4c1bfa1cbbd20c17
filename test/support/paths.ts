/** Where the compiled entry points and test fixtures are, from dist/test/support/. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DIST = path.join(REPO_ROOT, 'dist');
export const SNAPSHOTTER_MAIN = path.join(DIST, 'snapshotter', 'main.js');
