/** Where the compiled entry points and test fixtures are, from dist/test/support/. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DIST = path.join(REPO_ROOT, 'dist');
export { SNAPSHOTTER_MAIN } from '../../harness/snapshotter-process';
