/**
 * A file from deploy/ as a private test containerd runs it: only paths and
 * sockets substituted (tsov's socket, root and tsov-runtime; containerd's
 * root, state and sockets kept below the test's directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import { privatePlaceKeys } from '../../harness/containerd';
import { REPO_ROOT } from './paths';

export interface DeployPaths {
  snapshotterSocket: string;
  snapshotterRoot: string;
  runtimeBinary: string;
  runscConfig: string;
}

/** The shipped paths and what a test puts in their place. */
function substitutions(paths: DeployPaths): Array<[string, string]> {
  return [
    ['"/run/tsov/tsov.sock"', JSON.stringify(paths.snapshotterSocket)],
    ['"/var/lib/tsov"', JSON.stringify(paths.snapshotterRoot)],
    ['"/usr/local/bin/tsov-runtime"', JSON.stringify(paths.runtimeBinary)],
    ['"/etc/containerd/runsc.toml"', JSON.stringify(paths.runscConfig)],
  ];
}

/** Whether this process may lower an oom_score_adj (CAP_SYS_RESOURCE, bit 24 of CapEff). */
export function canLowerOomScore(): boolean {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return capEff !== null && (BigInt(`0x${capEff[1]}`) & (1n << 24n)) !== 0n;
}

/**
 * Pure: the text with the substitutions made, and containerd's own places (and
 * NRI's socket on 2.x) inside dir. One host fact may be added: the CRI plugin
 * gives every sandbox oom_score_adj -998, which runc cannot set without
 * CAP_SYS_RESOURCE (this VM's root lacks it: "nsexec: failed to update
 * /proc/self/oom_score_adj: Permission denied"); then containerd's own answer
 * for such hosts, restrict_oom_score_adj, is set.
 */
export function privateDeployConfig(text: string, dir: string, paths: DeployPaths, restrictOomScoreAdj = false): string {
  let result = text;
  if (!result.includes('"/run/tsov/tsov.sock"')) throw new Error('deploy config: it does not name tsov\'s socket /run/tsov/tsov.sock');
  for (const [shipped, local] of substitutions(paths)) result = result.replaceAll(shipped, local);
  const versionLine = /^version = \d+\n/m.exec(result);
  if (versionLine === null) throw new Error('deploy config: no `version = N` line');
  const at = versionLine.index + versionLine[0].length;
  // Top-level keys must come before the first table: right after `version`.
  result = `${result.slice(0, at)}${privatePlaceKeys(dir)}${result.slice(at)}`;
  // NRI (on by default in 2.x) listens on /var/run/nri/nri.sock, which containerds side by side would share.
  const v3 = /^version = 3$/m.test(result);
  if (v3) result += `\n[plugins.'io.containerd.nri.v1.nri']\n  socket_path = "${dir}/nri.sock"\n`;
  if (restrictOomScoreAdj) result += `\n[plugins.${v3 ? "'io.containerd.cri.v1.runtime'" : '"io.containerd.grpc.v1.cri"'}]\n  restrict_oom_score_adj = true\n`;
  return result;
}

export function readDeployFile(name: string): string {
  return fs.readFileSync(path.join(REPO_ROOT, 'deploy', name), 'utf8');
}
