/**
 * Builds the Go conformance harness in test/conformance (GOPATH mode, Debian's
 * containerd source), once per change of its source.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { buildGoProgram } from '../../harness/go-build';
import { REPO_ROOT } from './paths';

export const CONFORMANCE_DIR = path.join(REPO_ROOT, 'test', 'conformance');

export function buildConformanceHarness(): string {
  return buildGoProgram({ dir: CONFORMANCE_DIR, output: path.join(CONFORMANCE_DIR, 'bin', 'conformance.test'), test: true });
}

/** test/support/go/spec-oracle: decodes a spec as runc does (Go's encoding/json into runtime-spec's specs.Spec). */
export function buildSpecOracle(): string {
  const dir = path.join(REPO_ROOT, 'test', 'support', 'go', 'spec-oracle');
  return buildGoProgram({ dir, output: path.join(REPO_ROOT, 'test', 'support', 'go', 'bin', 'spec-oracle') });
}

/** test/support/go/hpack-oracle: header blocks as grpc-go's HPACK encoder (golang.org/x/net/http2/hpack) writes them. */
export function buildHpackOracle(): string {
  const dir = path.join(REPO_ROOT, 'test', 'support', 'go', 'hpack-oracle');
  return buildGoProgram({ dir, output: path.join(REPO_ROOT, 'test', 'support', 'go', 'bin', 'hpack-oracle') });
}

/** test/support/go/health-check: gRPC's health Check as grpc-go's grpc_health_v1 client asks it (grpc_health_probe, the kubelet's gRPC probe). */
export function buildHealthCheck(): string {
  const dir = path.join(REPO_ROOT, 'test', 'support', 'go', 'health-check');
  return buildGoProgram({ dir, output: path.join(REPO_ROOT, 'test', 'support', 'go', 'bin', 'health-check') });
}

/** grpc-go's health client's answer for service at socket: {"status": …} or {"code": …, "message": …}. */
export function goHealthCheck(socket: string, service: string): Record<string, string> {
  const result = spawnSync(buildHealthCheck(), [socket, service], { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) throw new Error(`health-check: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, string>;
}
