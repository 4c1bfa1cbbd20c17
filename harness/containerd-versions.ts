/**
 * The containerd releases the tests, the demo and the bench run against: the
 * system's 1.6 (Debian 12) and 1.7 / 2.1 as Debian packages them, unpacked by
 * scripts/fetch-runtimes.sh (run by scripts/setup.sh) beside it, each with the
 * crun that takes its specs.
 */
import fs from 'node:fs';
import path from 'node:path';

export const CONTAINERD_VERSIONS = ['1.6', '1.7', '2.1'] as const;
export type ContainerdVersion = (typeof CONTAINERD_VERSIONS)[number];

export interface ContainerdRelease {
  version: ContainerdVersion;
  /** The directory holding containerd, containerd-shim-runc-v2 and ctr: first in PATH so containerd finds its own shim. */
  binDir: string;
  /** The config file's `version` (2 for 1.x, 3 for 2.x). */
  configVersion: 2 | 3;
  /** The CRI plugin's default sandbox (pause) image, as `containerd config default` prints it. */
  pauseImage: string;
  /**
   * The crun to run its containers with: Debian 12's crun 1.8.1 refuses the
   * specs 1.7.24 and 2.1.9 write (`ctr oci spec`: ociVersion 1.2.0 / 1.2.1;
   * crun: "unknown version specified"), so those get crun 1.21 (Debian 13's source).
   */
  crun: string;
}

const CACHE = process.env.TSOV_CACHE ?? '/var/cache/tsov';

const RELEASES: Readonly<Record<ContainerdVersion, Omit<ContainerdRelease, 'version'>>> = {
  '1.6': { binDir: '/usr/bin', configVersion: 2, pauseImage: 'registry.k8s.io/pause:3.6', crun: '/usr/bin/crun' },
  '1.7': { binDir: path.join(CACHE, 'containerd', '1.7.24', 'usr', 'bin'), configVersion: 2, pauseImage: 'registry.k8s.io/pause:3.8', crun: path.join(CACHE, 'crun', '1.21', 'crun') },
  '2.1': { binDir: path.join(CACHE, 'containerd', '2.1.9', 'usr', 'bin'), configVersion: 3, pauseImage: 'registry.k8s.io/pause:3.10', crun: path.join(CACHE, 'crun', '1.21', 'crun') },
};

/** The release, or an error that says how to get it. */
export function containerdRelease(version: ContainerdVersion): ContainerdRelease {
  const release = { version, ...RELEASES[version] };
  for (const binary of ['containerd', 'containerd-shim-runc-v2', 'ctr']) {
    if (!fs.existsSync(path.join(release.binDir, binary))) {
      throw new Error(`containerd ${version}: ${path.join(release.binDir, binary)} is missing; run scripts/setup.sh (it unpacks containerd 1.7 and 2.1 below ${CACHE})`);
    }
  }
  return release;
}

/** PATH with the release's directory first. */
export function pathFor(release: ContainerdRelease): string {
  return `${release.binDir}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
}
