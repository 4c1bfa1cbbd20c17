/**
 * The translator: (spec, policy, host capabilities, runtime) → (rewritten
 * spec, helper mount actions, report). Pure: the probe reports come in as
 * data (gathered by the caller from tsov-helper), nothing is mounted here.
 *
 * Every `type: overlay` entry becomes a bind mount of something every runtime
 * honours, and says where its writes go (annotations tsov.dev/mount.<n>.*):
 *   host    kernel overlay mounted by tsov-helper; writes persist in upperdir
 *   fuse    fuse-overlayfs mounted by tsov-helper; writes persist in upperdir
 *   memory  kernel overlay over a tmpfs upper; writes are lost at delete
 *   sandbox runsc overlays the bind inside the sandbox (gVisor annotations)
 *   auto    host when the probe says the kernel overlay works there, else fuse
 */
import { InvalidArgumentError } from '../common/errors';
import { chooseAutoBackend } from '../helper/api/probe-report';
import { matchRule, type TranslationRule } from '../policy/translation-policy';
import { checkModeAllowed, PLANNERS, type EntryPlan } from './entry-plans';
import { gvisorAnnotations, type SandboxOverlayNeeds } from './sandbox/gvisor-annotations';
import { ANNOTATION_PREFIX, isOverlayMount, TRANSLATED_ANNOTATION, type OciMount, type OciSpec } from './spec/oci-spec';
import { mergedDirectory } from './state-layout';
import { describeEntry, parseOverlayEntry, type OverlayEntry, type ResolvedMode } from './spec/overlay-entry';
import type { EntryOutcome, MountAction, ReportEntry, Translation, TranslationContext } from './translation-types';

export { ANNOTATION_PREFIX, TRANSLATED_ANNOTATION };
export type { MountAction, ReportEntry, Translation, TranslationContext };


/** The directories whose probe auto mode and quirk selection need: every overlay entry's upperdir. */
export function directoriesToProbe(spec: OciSpec): string[] {
  const dirs = new Set<string>();
  for (const [index, mount] of (spec.mounts ?? []).entries()) {
    if (!isOverlayMount(mount)) continue;
    try {
      const entry = parseOverlayEntry(mount, index);
      if (entry.upper !== undefined) dirs.add(entry.upper);
    } catch {
      // reported by translate()
    }
  }
  return [...dirs];
}

/** Propagation flags runsc refuses on any mount (specutils/fs.go invalidOptions). */
const RUNSC_REFUSED_FLAGS = new Set(['shared', 'rshared']);

function resolveMode(entry: OverlayEntry, rule: TranslationRule | undefined, context: TranslationContext, where: string, reasons: string[]): ResolvedMode {
  const kind = context.runtime.kind;
  const asked = entry.mode ?? rule?.mode ?? context.policy.defaultModes[kind];
  reasons.push(
    entry.mode !== undefined ? `mode ${asked} from x-tsov.mode` : rule?.mode !== undefined ? `mode ${asked} from a policy rule` : `mode ${asked}: the policy's default for ${kind}`,
  );
  if (asked !== 'auto') return asked;
  if (entry.upper === undefined) {
    reasons.push('auto → host: no upperdir, a read-only kernel overlay needs no probe');
    return 'host';
  }
  const probe = context.probes.get(entry.upper);
  if (probe === undefined) {
    reasons.push(`auto → host: ${entry.upper} was not probed (no tsov-helper answer); assuming the kernel overlay works`);
    return 'host';
  }
  const choice = chooseAutoBackend(probe);
  if (choice.backend === undefined) throw new InvalidArgumentError(`${where}: mode auto found nothing that works: ${choice.reason}`);
  reasons.push(`auto → ${choice.backend === 'kernel' ? 'host' : 'fuse'}: ${choice.reason}`);
  return choice.backend === 'kernel' ? 'host' : 'fuse';
}

function translateEntry(original: OciMount, index: number, context: TranslationContext, specAnnotations: Readonly<Record<string, string>>): EntryOutcome {
  const where = describeEntry(index, original.destination);
  const entry = parseOverlayEntry(original, index);
  const { policy, runtime, containerId } = context;
  const match = matchRule(policy.rules, { destination: entry.destination, runtime: runtime.kind, annotations: specAnnotations });
  const rule = match?.rule;
  const reasons: string[] = [];
  if (match !== undefined) reasons.push(`policy rule ${match.position + 1} matches`);
  const mode = resolveMode(entry, rule, context, where, reasons);
  if (runtime.kind === 'runsc') reasons.push(...dropRunscRefusedFlags(entry));
  const plan: EntryPlan = {
    original,
    entry,
    index,
    where,
    mode,
    rule,
    context,
    specAnnotations,
    reasons,
    target: mergedDirectory(policy.stateDir, containerId, index),
    memoryBytes: rule?.memoryBytes ?? policy.memoryBytes,
  };
  checkModeAllowed(plan);
  return PLANNERS[mode](plan);
}

/**
 * runsc refuses a whole spec with a shared/rshared mount (specutils/fs.go
 * validateMount), and nothing mounted in a sandbox propagates to the host:
 * such flags are dropped from the entry. Returns the note for the report.
 */
function dropRunscRefusedFlags(entry: OverlayEntry): string[] {
  const dropped = entry.flags.filter((flag) => RUNSC_REFUSED_FLAGS.has(flag));
  if (dropped.length === 0) return [];
  entry.flags = entry.flags.filter((flag) => !RUNSC_REFUSED_FLAGS.has(flag));
  return [`${dropped.join(', ')} dropped: runsc refuses a spec with shared or rshared mounts, and nothing mounted in a sandbox propagates to the host`];
}

function recordAnnotations(annotations: Record<string, string>, report: ReportEntry): void {
  const key = (field: string) => `${ANNOTATION_PREFIX}mount.${report.index}.${field}`;
  annotations[key('destination')] = report.destination;
  annotations[key('mode')] = report.mode;
  annotations[key('backend')] = report.backend;
  annotations[key('lowers')] = report.lowers.join(':');
  if (report.upper !== undefined) annotations[key('upper')] = report.upper;
  annotations[key('source')] = report.source;
  annotations[key('writes')] = report.writes;
}

export function translate(spec: OciSpec, context: TranslationContext): Translation {
  const problems: string[] = [];
  const mounts: OciMount[] = [];
  const actions: MountAction[] = [];
  const report: ReportEntry[] = [];
  const needs: SandboxOverlayNeeds = { selfBacked: [], memoryBacked: [], rootfs: context.policy.sandbox.rootfsOverlay, memoryBytes: context.policy.memoryBytes };
  for (const [index, mount] of (spec.mounts ?? []).entries()) {
    if (!isOverlayMount(mount)) {
      // Other entries are the real runtime's to judge; tsov only looks for its own options.
      const options: unknown = mount.options;
      if (Array.isArray(options) && options.some((option) => typeof option === 'string' && option.startsWith('x-tsov.'))) {
        problems.push(`${describeEntry(index, mount.destination)}: x-tsov options apply only to type: overlay mounts`);
      }
      mounts.push(mount);
      continue;
    }
    try {
      const outcome = translateEntry(mount, index, context, spec.annotations ?? {});
      mounts.push(outcome.mount);
      if (outcome.action !== undefined) actions.push(outcome.action);
      report.push(outcome.report);
      if (outcome.selfBacked !== undefined) needs.selfBacked.push(outcome.selfBacked);
      if (outcome.memoryBacked !== undefined) needs.memoryBacked.push(outcome.memoryBacked);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  const annotations: Record<string, string> = { ...(spec.annotations ?? {}) };
  const notes: string[] = [];
  if (context.runtime.kind === 'runsc' && problems.length === 0) {
    try {
      const gvisor = gvisorAnnotations(needs, context.runtime, { annotations: spec.annotations ?? {}, mounts });
      Object.assign(annotations, gvisor.annotations);
      notes.push(...gvisor.notes);
    } catch (error) {
      problems.push((error as Error).message);
    }
  } else if (context.policy.sandbox.rootfsOverlay !== 'none' && context.runtime.kind !== 'runsc') {
    notes.push(`sandbox.rootfs_overlay is ignored: the runtime is ${context.runtime.kind}, not runsc`);
  }
  if (problems.length > 0) throw new InvalidArgumentError(problems.join('\n'));
  if (report.length === 0 && Object.keys(annotations).length === Object.keys(spec.annotations ?? {}).length) {
    return { spec, actions, report, notes };
  }
  for (const entry of report) recordAnnotations(annotations, entry);
  annotations[TRANSLATED_ANNOTATION] = 'true';
  return { spec: { ...spec, mounts, annotations }, actions, report, notes };
}
