/** Where the compiled entry points and test fixtures are, from dist/test/support/. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export { SNAPSHOTTER_MAIN } from '../../harness/daemon-process';
