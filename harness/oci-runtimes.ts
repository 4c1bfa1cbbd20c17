/**
 * The OCI runtimes the end-to-end tests run containers with: runc (Debian
 * 12's) and crun (the one a containerd release goes with, see
 * containerd-versions.ts). crun refuses this host's hybrid cgroup layout
 * ("cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2"), so it runs through a wrapper that gives it a mount namespace of
 * its own with /sys/fs/cgroup/unified unmounted (mounts made on the host later,
 * such as tsov-helper's, still propagate into it: slave propagation). The
 * wrapper execs crun, so containerd's shim sees crun's own pid, output and
 * exit status. Both runtimes are run through a wrapper that first logs its
 * arguments, so a test can tell which runtime created its container.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerdRelease } from './containerd-versions';

export const OCI_RUNTIMES = ['runc', 'crun'] as const;
export type OciRuntime = (typeof OCI_RUNTIMES)[number];

/** A wrapper's text: pure, so a test can read what a runtime is run with. */
export function runtimeWrapper(runtime: OciRuntime, binary: string, log: string): string {
  const logLine = `printf '%s\\n' "$*" >> '${log}'`;
  if (runtime === 'runc') return `#!/bin/sh\n${logLine}\nexec ${binary} "$@"\n`;
  return `#!/bin/sh
# crun in a private mount namespace without the cgroup2 hybrid mount (see harness/oci-runtimes.ts).
${logLine}
exec unshare --mount --propagation slave /bin/sh -c 'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 125; fi; exec "$0" "$@"' ${binary} "$@"
`;
}

export interface WrappedRuntime {
  /** What containerd's shim (BinaryName, `ctr run --runc-binary`) or tsov-runtime (runtime.binary) should run. */
  binary: string;
  /** The argument lines the runtime was called with so far. */
  calls(): string[];
}

/** Writes the wrapper of the runtime that goes with that containerd release into dir (a path without quotes). */
export function wrappedRuntime(runtime: OciRuntime, release: ContainerdRelease, dir: string): WrappedRuntime {
  const binary = runtime === 'runc' ? '/usr/sbin/runc' : release.crun;
  if (!fs.existsSync(binary)) throw new Error(`${runtime}: ${binary} is missing; run scripts/setup.sh (it installs runc and crun, and builds crun 1.21)`);
  if (/['\\\s]/.test(dir)) throw new Error(`wrappedRuntime: ${dir} holds a quote, backslash or space`);
  fs.mkdirSync(dir, { recursive: true });
  const wrapper = path.join(dir, `${runtime}-wrapper`);
  const log = path.join(dir, `${runtime}-calls.log`);
  fs.writeFileSync(wrapper, runtimeWrapper(runtime, binary, log), { mode: 0o755 });
  return { binary: wrapper, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}
