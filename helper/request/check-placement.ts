/**
 * Second line of the helper's defence, on facts gathered from the filesystem
 * (host/path-facts.ts): every path resolved (symlinks followed) must stay
 * inside the policy's allowed roots, exist as a directory, hold no character
 * the option string or mountinfo would split on, and not overlap
 * another; work must be empty and on upper's mount; upper must be on a
 * writable filesystem that can hold an overlay upper and not in use by a live
 * overlay. Pure: facts in, problems out.
 */
import { UNSUITABLE_UPPER_FILESYSTEMS } from '../../common/filesystem-types';
import { isPathWithin } from '../../common/path-within';
import { forbiddenCharacters, shownPath, type ShapeProblem } from '../api/check-request-shape';

export interface PathFacts {
  field: string;
  /** As requested. */
  requested: string;
  /** After resolving symlinks; undefined when the path does not exist or cannot be resolved. */
  resolved?: string;
  /** Why resolving failed, when it failed for another reason than a missing path (ELOOP, ENAMETOOLONG, EACCES). */
  unresolvable?: string;
  isDirectory: boolean;
  /** Mount id and mount point of the mount holding the resolved path. */
  mountId?: number;
  mountPoint?: string;
  readOnlyMount?: boolean;
  /** statfs type name of the filesystem, e.g. "ext4", "overlay". */
  filesystem?: string;
  /** Entries in the directory (work must be empty). */
  entries?: string[];
}

export interface PlacementFacts {
  allowedRoots: readonly string[];
  paths: readonly PathFacts[];
  /** upperdir/workdir of live overlays → their mount point. */
  inUse: ReadonlyMap<string, string>;
}

export function checkPlacement(facts: PlacementFacts): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const existing: PathFacts[] = [];
  for (const fact of facts.paths) {
    const shown = JSON.stringify(fact.requested);
    if (fact.resolved === undefined) {
      const message = fact.unresolvable === undefined ? `${shown} does not exist; create the directory first` : `${shown} cannot be resolved (${fact.unresolvable}); give a real directory under the allowed roots`;
      problems.push({ field: fact.field, message });
      continue;
    }
    if (!facts.allowedRoots.some((root) => isPathWithin(fact.resolved!, root))) {
      const via = fact.resolved === fact.requested ? '' : ` (it resolves to ${JSON.stringify(fact.resolved)})`;
      problems.push({
        field: fact.field,
        message: `${shown}${via} is outside the allowed roots ${facts.allowedRoots.join(', ')}; move it under one or add its root to allowed_roots in the policy`,
      });
      continue;
    }
    if (!fact.isDirectory) {
      problems.push({ field: fact.field, message: `${shown} is not a directory` });
      continue;
    }
    const characters = forbiddenCharacters(fact.resolved, fact.field.startsWith('lowers'));
    if (characters.length > 0) {
      problems.push({
        field: fact.field,
        message: `${shown} resolves to ${shownPath(fact.resolved)}, which ${characters.join(' and ')}; the kernel and mountinfo would read it differently: rename the directory or the symlink's target`,
      });
      continue;
    }
    existing.push(fact);
  }
  problems.push(...overlapProblems(existing));
  const upper = existing.find((f) => f.field === 'upper');
  const work = existing.find((f) => f.field === 'work');
  if (upper !== undefined) problems.push(...upperProblems(upper, facts.inUse));
  const target = existing.find((f) => f.field === 'target');
  if (target !== undefined && target.mountPoint === target.resolved) {
    problems.push({ field: 'target', message: `${JSON.stringify(target.requested)} is already a mount point; unmount it first or choose an empty directory` });
  }
  if (work !== undefined) {
    if (upper !== undefined && work.mountId !== upper.mountId) {
      problems.push({
        field: 'work',
        message: `workdir must be on the same mount as upperdir: ${JSON.stringify(work.requested)} is on ${work.mountPoint}, upper on ${upper.mountPoint} (a bind mount of the same filesystem counts as another mount; the kernel would refuse with "overlayfs: workdir and upperdir must reside under the same mount"): put both under one directory`,
      });
    }
    if ((work.entries ?? []).length > 0) {
      const volatile = work.entries!.includes('incompat') ? ' (work/incompat is left by a volatile mount: the next mount of that upper fails)' : '';
      problems.push({ field: 'work', message: `work ${JSON.stringify(work.requested)} is not empty${volatile}; give an empty directory` });
    }
    const user = facts.inUse.get(work.resolved!);
    if (user !== undefined) problems.push({ field: 'work', message: `${JSON.stringify(work.requested)} is already the workdir of the overlay at ${user}; each overlay needs its own` });
  }
  return problems;
}

function upperProblems(upper: PathFacts, inUse: ReadonlyMap<string, string>): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const shown = JSON.stringify(upper.requested);
  if (upper.filesystem !== undefined && UNSUITABLE_UPPER_FILESYSTEMS.has(upper.filesystem)) {
    problems.push({ field: 'upper', message: `${shown} is on ${upper.filesystem}, which cannot hold an overlay upper; use a directory on ext4, xfs (ftype=1), btrfs or tmpfs` });
  }
  if (upper.readOnlyMount === true) {
    problems.push({ field: 'upper', message: `${shown} is on a read-only mount (${upper.mountPoint}); use a writable filesystem` });
  }
  const user = inUse.get(upper.resolved!);
  if (user !== undefined) problems.push({ field: 'upper', message: `${shown} is already the upperdir of the overlay at ${user}; two overlays must not share an upper` });
  return problems;
}

function overlapProblems(paths: readonly PathFacts[]): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  for (let i = 0; i < paths.length; i++) {
    for (let j = i + 1; j < paths.length; j++) {
      const a = paths[i]!;
      const b = paths[j]!;
      // Lowers may share a parent but must not be the same directory; everything else must be disjoint.
      const bothLowers = a.field.startsWith('lowers') && b.field.startsWith('lowers');
      const overlaps = bothLowers ? a.resolved === b.resolved : isPathWithin(a.resolved!, b.resolved!) || isPathWithin(b.resolved!, a.resolved!);
      if (overlaps) {
        const how = a.resolved === b.resolved ? 'is the same directory as' : 'overlaps (is inside or contains)';
        problems.push({ field: b.field, message: `${b.field} ${JSON.stringify(b.requested)} ${how} ${a.field} ${JSON.stringify(a.requested)}; layers, upper, work and target must be separate directories` });
      }
    }
  }
  return problems;
}
