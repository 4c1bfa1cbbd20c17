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
import path from 'node:path';
import { InvalidArgumentError } from '../common/errors';
import {
  matchRule,
  type RuntimeSettings,
  type TranslationPolicy,
  type TranslationRule,
} from '../policy/translation-policy';
import { chooseAutoBackend, type ProbeReport } from '../helper/api/probe-report';
import { checkRequestShape } from '../helper/api/check-request-shape';
import type { OverlayChoices, OverlayMountRequest, ResolvedBackend } from '../helper/api/mount-request';
import { selectQuirks } from './quirk-selection';
import { gvisorAnnotations, unheededMountHint, type SandboxOverlayNeeds } from './sandbox/gvisor-annotations';
import { ANNOTATION_PREFIX, isOverlayMount, TRANSLATED_ANNOTATION, type OciMount, type OciSpec } from './spec/oci-spec';

export { ANNOTATION_PREFIX, TRANSLATED_ANNOTATION };
import { describeEntry, parseOverlayEntry, type OverlayEntry, type ResolvedMode } from './spec/overlay-entry';


export interface TranslationContext {
  containerId: string;
  policy: TranslationPolicy;
  runtime: RuntimeSettings;
  /** tsov-helper's probe of each entry's upperdir, by that directory. */
  probes: ReadonlyMap<string, ProbeReport>;
}

export interface MountAction {
  entryIndex: number;
  request: OverlayMountRequest;
}

export interface ReportEntry {
  index: number;
  destination: string;
  mode: ResolvedMode;
  /** What makes the view: kernel, fuse, memory, a host read-only merge, or gVisor's sandbox overlay. */
  backend: string;
  lowers: string[];
  upper?: string;
  /** The bind mount's source in the rewritten spec. */
  source: string;
  /** Where writes go, for people. */
  writes: string;
  reasons: string[];
}

export interface Translation {
  spec: OciSpec;
  actions: MountAction[];
  report: ReportEntry[];
  /** Notes about the whole container (e.g. what a gVisor flag annotation also affects). */
  notes: string[];
}

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

/** Where the helper mounts an entry's merged view. */
export function mergedDirectory(policy: TranslationPolicy, containerId: string, index: number): string {
  return path.posix.join(policy.stateDir, containerId, String(index), 'merged');
}

interface EntryOutcome {
  mount: OciMount;
  action?: MountAction;
  report: ReportEntry;
  selfBacked?: SandboxOverlayNeeds['selfBacked'][number];
  memoryBacked?: string;
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

function bindMount(original: OciMount, source: string, flags: readonly string[], readOnly: boolean): OciMount {
  const { type: _type, source: _source, options: _options, ...rest } = original;
  const kept = flags.filter((flag) => flag !== 'ro' && flag !== 'rw');
  return { ...rest, destination: original.destination, type: 'bind', source, options: ['rbind', readOnly ? 'ro' : 'rw', ...kept] };
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
  if (runtime.kind === 'runsc') {
    // runsc refuses a whole spec with a shared/rshared mount (specutils/fs.go validateMount); the sandbox's mounts never propagate to the host anyway.
    const dropped = entry.flags.filter((flag) => RUNSC_REFUSED_FLAGS.has(flag));
    if (dropped.length > 0) {
      entry.flags = entry.flags.filter((flag) => !RUNSC_REFUSED_FLAGS.has(flag));
      reasons.push(`${dropped.join(', ')} dropped: runsc refuses a spec with shared or rshared mounts, and nothing mounted in a sandbox propagates to the host`);
    }
  }
  const scratch = rule?.scratch === true;
  const readOnly = entry.flags.includes('ro') || entry.upper === undefined;
  const memoryBytes = rule?.memoryBytes ?? policy.memoryBytes;

  if ((mode === 'memory' || mode === 'sandbox') && entry.upper !== undefined && !scratch) {
    throw new InvalidArgumentError(
      `${where}: names upperdir ${entry.upper}, which promises that writes persist there (as runc does); mode ${mode} would keep them ${mode === 'memory' ? 'in memory and lose them at delete' : 'inside the sandbox'}. Use mode host or fuse, or mark the entry scratch in a policy rule if losing the writes is intended`,
    );
  }
  if (mode === 'sandbox' && runtime.kind !== 'runsc') {
    throw new InvalidArgumentError(`${where}: mode sandbox needs runsc (the runtime is ${runtime.kind}); use host, fuse or memory`);
  }
  if (entry.upper !== undefined && entry.work === undefined && (mode === 'host' || mode === 'fuse')) {
    throw new InvalidArgumentError(`${where}: upperdir without workdir; give a workdir on the same mount as ${entry.upper}`);
  }

  const probe = entry.upper === undefined ? undefined : context.probes.get(entry.upper);
  const quirks = () => {
    const selection = selectQuirks({ entry: { ...entry.optionQuirks, ...entry.tsovQuirks }, policy: { ...policy.quirks, ...rule?.quirks } }, probe, where);
    reasons.push(...selection.notes);
    return selection.choices;
  };
  const target = mergedDirectory(policy, containerId, index);
  const report = (backend: string, source: string, writes: string): ReportEntry => ({
    index,
    destination: entry.destination,
    mode,
    backend,
    lowers: entry.lowers,
    upper: entry.upper,
    source,
    writes,
    reasons,
  });
  const helperMount = (backend: ResolvedBackend, layers: { upper?: string; work?: string }, choices: OverlayChoices): MountAction => {
    const request: OverlayMountRequest = { owner: containerId, lowers: entry.lowers, ...layers, target, backend, choices };
    if (backend === 'memory') request.memoryBytes = memoryBytes;
    const problems = checkRequestShape(request);
    if (problems.length > 0) throw new InvalidArgumentError(`${where}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    return { entryIndex: index, request };
  };
  /** A read-only view of the lowers: the lower itself when there is one, else a kernel overlay of them on the host. */
  const readOnlyView = (): { source: string; action?: MountAction; backend: string } => {
    if (entry.lowers.length === 1) return { source: entry.lowers[0]!, backend: 'none (a bind of the only lower)' };
    return { source: target, action: helperMount('kernel', {}, quirks()), backend: 'kernel (read-only merge on the host)' };
  };

  switch (mode) {
    case 'host':
    case 'fuse': {
      if (readOnly && entry.upper === undefined) {
        const view = readOnlyView();
        return { mount: bindMount(original, view.source, entry.flags, true), action: view.action, report: report(view.backend, view.source, 'nowhere: read-only (no upperdir)') };
      }
      let choices: OverlayChoices = {};
      if (mode === 'fuse') {
        const asked = Object.keys({ ...entry.optionQuirks, ...entry.tsovQuirks, ...rule?.quirks });
        if (asked.length > 0) throw new InvalidArgumentError(`${where}: fuse-overlayfs takes no kernel overlay options, but ${asked.join(', ')} ${asked.length === 1 ? 'is' : 'are'} set; drop them or use mode host`);
      } else {
        choices = quirks();
      }
      const action = helperMount(mode === 'host' ? 'kernel' : 'fuse', { upper: entry.upper, work: entry.work }, choices);
      return {
        mount: bindMount(original, target, entry.flags, readOnly),
        action,
        report: report(mode === 'host' ? 'kernel' : 'fuse-overlayfs', target, `the host directory ${entry.upper} (persistent, as with runc)`),
      };
    }
    case 'memory': {
      if (entry.upper !== undefined) reasons.push(`upperdir ${entry.upper} is not used: the policy marks this entry scratch`);
      const action = helperMount('memory', {}, quirks());
      return {
        mount: bindMount(original, target, entry.flags, entry.flags.includes('ro')),
        action,
        report: report('kernel over a tmpfs upper', target, `memory (a tmpfs of ${memoryBytes} bytes); lost when the container is deleted`),
      };
    }
    case 'sandbox': {
      if (readOnly) {
        const view = readOnlyView();
        reasons.push('read-only entry: no sandbox overlay');
        return { mount: bindMount(original, view.source, entry.flags, true), action: view.action, report: report(view.backend, view.source, 'nowhere: read-only') };
      }
      reasons.push(`upperdir ${entry.upper} is not used: writes stay in the sandbox (the policy marks this entry scratch)`);
      if (policy.sandbox.medium === 'self') {
        const unheeded = unheededMountHint(runtime, specAnnotations);
        if (unheeded !== undefined) {
          throw new InvalidArgumentError(
            `${where}: sandbox medium self overlays the bind through a mount hint, but ${unheeded}; without the overlay the container would write into the host lower ${entry.lowers[0]}. Use mode host (writes persist in upperdir), or sandbox medium memory`,
          );
        }
        if (entry.lowers.length > 1) {
          throw new InvalidArgumentError(
            `${where}: sandbox medium self keeps the upper in a file inside the bind's source, but ${entry.lowers.length} lowers can only be merged read-only on the host; set sandbox.medium to memory, or use mode host`,
          );
        }
        const source = entry.lowers[0]!;
        return {
          mount: bindMount(original, source, entry.flags, false),
          report: report('gVisor overlay, self-backed', source, `inside the sandbox: a hidden filestore file in ${source} (.gvisor.filestore.<sandbox id>), deleted with the container`),
          selfBacked: { name: `tsov-${index}`, source, where, destination: entry.destination },
        };
      }
      const view = readOnlyView();
      return {
        mount: bindMount(original, view.source, entry.flags, false),
        action: view.action,
        report: report(`gVisor overlay in memory over ${view.backend}`, view.source, 'inside the sandbox, in memory; lost when the container is deleted'),
        memoryBacked: where,
      };
    }
  }
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
