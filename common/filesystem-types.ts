/**
 * statfs(2) f_type magic numbers (linux/magic.h) and what they mean for
 * overlayfs: which filesystems can hold an upper directory.
 */

const NAMES: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0x794c7630, 'overlay'],
  [0x61756673, 'aufs'],
  [0xf15f, 'ecryptfs'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0x2fc12fc1, 'zfs'],
  [0x5346544e, 'ntfs'],
  [0x4d44, 'vfat'],
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x73717368, 'squashfs'],
  [0xe0f5e1e2, 'erofs'],
  [0xf2f52010, 'f2fs'],
]);

/** Filesystems the kernel refuses (or mishandles) as an overlay upper. */
export const UNSUITABLE_UPPER_FILESYSTEMS: ReadonlySet<string> = new Set(['overlay', 'aufs', 'ecryptfs', 'nfs', 'fuse']);

export function filesystemName(magic: number | bigint): string {
  const value = Number(magic);
  return NAMES.get(value) ?? `unknown (0x${value.toString(16)})`;
}
