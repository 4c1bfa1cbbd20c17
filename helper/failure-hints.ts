/**
 * What to do about an overlay mount failure, from the kernel's own words
 * (its "overlayfs:" log lines) or, when the log says nothing, from mount(8)'s.
 * Pure: lines in, hints out; the table is the knowledge.
 */

interface HintRule {
  pattern: RegExp;
  hint: string;
}

const RULES: readonly HintRule[] = [
  { pattern: /workdir and upperdir must reside under the same mount/, hint: 'workdir must be on the same mount as upperdir (a bind mount of the same filesystem is a different mount): put both under one directory' },
  { pattern: /failed to resolve '([^']*)'/, hint: 'a layer path could not be resolved: check that every lower, upper and work directory exists' },
  { pattern: /too many lower directories|max .* lower/, hint: 'too many lower layers for this kernel (at most 500): flatten some layers' },
  { pattern: /conflicting options/, hint: 'the kernel refuses this option combination: drop one of the options it names (see `tsov probe` for what works here)' },
  { pattern: /incompat feature/, hint: "the workdir was used by a 'volatile' mount (work/incompat/volatile): give an empty workdir" },
  { pattern: /is in-use as upperdir\/workdir|in-use/, hint: 'another overlay already uses this upper or work directory: unmount it first or use other directories' },
  { pattern: /not supported as upperdir/, hint: 'this filesystem cannot hold an overlay upper: put upper and work on ext4, xfs (ftype=1), btrfs or tmpfs' },
  { pattern: /failed to verify (upper root|origin)|ESTALE/, hint: 'this upper was used with other lower layers while index=on: mount with index=off or start from an empty upper' },
  { pattern: /upper fs needs to support d_type/, hint: 'the upper filesystem lacks d_type (xfs with ftype=0?): whiteouts will not work; use another filesystem' },
  { pattern: /upper fs does not support RENAME_WHITEOUT/, hint: 'the upper filesystem cannot make whiteouts (RENAME_WHITEOUT): deleting lower files will fail; use ext4, xfs or btrfs' },
  { pattern: /upper fs does not support (xattr|tmpfile)|falling back to/, hint: 'the upper filesystem lacks a feature overlayfs wants; the mount works with reduced features (see `tsov probe`)' },
  { pattern: /unrecognized mount option|Unknown parameter|bad option/i, hint: 'the kernel does not know one of the options: run `tsov probe DIR` to see which work on this host' },
  { pattern: /missing 'lowerdir'|at least one lowerdir|lowerdir is required/, hint: 'no lower layer reached the kernel: give at least one lower directory' },
  { pattern: /option .* too long|too long/, hint: 'the option data is too long for the mount call: use shorter layer paths or fewer layers' },
  { pattern: /mountpoint .*does not exist|No such file or directory/, hint: 'the target or a layer does not exist: create it first' },
  { pattern: /Transport endpoint is not connected|fuse: device not found|\/dev\/fuse/, hint: 'FUSE is not available: load the fuse module (modprobe fuse) or use backend kernel' },
];

/** Hints for the given lines, in rule order, without repeats. */
export function failureHints(lines: readonly string[]): string[] {
  const hints: string[] = [];
  for (const rule of RULES) {
    if (lines.some((line) => rule.pattern.test(line)) && !hints.includes(rule.hint)) hints.push(rule.hint);
  }
  return hints;
}

/**
 * One message for a failed mount: what failed, the kernel's lines (or a note
 * that the kernel said nothing), mount(8)'s first line, and what to do.
 */
export function describeMountFailure(what: string, kernelLines: readonly string[], commandOutput: string, kernelLogAvailable: boolean): string {
  const parts = [`${what} failed`];
  if (kernelLines.length > 0) parts.push(`kernel: ${kernelLines.join(' | ')}`);
  else if (!kernelLogAvailable) parts.push('kernel log (/dev/kmsg) not readable, so the kernel\'s reason is unknown');
  if (commandOutput !== '') parts.push(`mount: ${commandOutput}`);
  const hints = failureHints([...kernelLines, commandOutput]);
  if (hints.length > 0) parts.push(`hint: ${hints.join('; ')}`);
  return parts.join('; ');
}
