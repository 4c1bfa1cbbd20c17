/**
 * Builds the repo's Go programs (the conformance harness, the benchmark's
 * reference proxy and load driver) in GOPATH mode against Debian's
 * golang-github-containerd-containerd-dev, once per change of their source.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const DEBIAN_GOPATH = '/usr/share/gocode';
const CONTAINERD_SOURCE = path.join(DEBIAN_GOPATH, 'src/github.com/containerd/containerd');

export interface GoProgram {
  /** The package directory (one main or test package). */
  dir: string;
  /** Where the binary goes. */
  output: string;
  /** `go test -c` (a test binary) instead of `go build`. */
  test?: boolean;
  /** A static binary (CGO_ENABLED=0), e.g. to run inside a busybox container. */
  static?: boolean;
}

/** Builds the program unless its binary is newer than every .go file in dir; returns the binary. */
export function buildGoProgram(program: GoProgram): string {
  if (!fs.existsSync(CONTAINERD_SOURCE)) {
    throw new Error(`containerd's Go source not found at ${CONTAINERD_SOURCE}: apt-get install golang-go golang-github-containerd-containerd-dev`);
  }
  const sources = fs.readdirSync(program.dir).filter((name) => name.endsWith('.go'));
  const newest = Math.max(...sources.map((name) => fs.statSync(path.join(program.dir, name)).mtimeMs));
  if (fs.existsSync(program.output) && fs.statSync(program.output).mtimeMs > newest) return program.output;
  const args = program.test ? ['test', '-c', '-o', program.output, '.'] : ['build', '-o', program.output, '.'];
  execFileSync('go', args, {
    cwd: program.dir,
    env: { ...process.env, GO111MODULE: 'off', GOPATH: DEBIAN_GOPATH, GOFLAGS: '', GOCACHE: path.join(path.dirname(program.output), 'cache'), ...(program.static ? { CGO_ENABLED: '0' } : {}) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return program.output;
}
