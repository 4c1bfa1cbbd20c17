/**
 * Builds the Go conformance harness in test/conformance in GOPATH mode against
 * Debian's golang-github-containerd-containerd-dev, once per build of its source.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths';

export const CONFORMANCE_DIR = path.join(REPO_ROOT, 'test', 'conformance');
export const DEBIAN_GOPATH = '/usr/share/gocode';

export function buildConformanceHarness(): string {
  const source = path.join(CONFORMANCE_DIR, 'conformance_test.go');
  const binary = path.join(CONFORMANCE_DIR, 'bin', 'conformance.test');
  if (!fs.existsSync(path.join(DEBIAN_GOPATH, 'src/github.com/containerd/containerd/snapshots/testsuite'))) {
    throw new Error('containerd snapshots/testsuite not found: apt-get install golang-go golang-github-containerd-containerd-dev');
  }
  if (fs.existsSync(binary) && fs.statSync(binary).mtimeMs > fs.statSync(source).mtimeMs) return binary;
  execFileSync('go', ['test', '-c', '-o', binary, '.'], {
    cwd: CONFORMANCE_DIR,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: DEBIAN_GOPATH, GOFLAGS: '', GOCACHE: path.join(CONFORMANCE_DIR, 'bin', 'cache') },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return binary;
}
