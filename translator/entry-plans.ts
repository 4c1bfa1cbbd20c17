/**
 * One spec overlay entry, once its mode is known: the checks every mode
 * shares (the persistence contract first), then one planner per mode that
 * returns the bind mount replacing the entry, the helper mount it needs and
 * the report. Pure; notes for the report are returned, never pushed from
 * inside a helper.
 */
import { InvalidArgumentError } from '../common/errors';
import { checkRequestShape } from '../helper/api/check-request-shape';
import type { OverlayChoices, OverlayMountRequest, ResolvedBackend } from '../helper/api/mount-request';
import type { TranslationRule } from '../policy/translation-policy';
import { selectQuirks } from './quirk-selection';
import { unheededMountHint } from './sandbox/gvisor-annotations';
import type { OciMount } from './spec/oci-spec';
import type { OverlayEntry, ResolvedMode } from './spec/overlay-entry';
import type { EntryOutcome, MountAction, ReportEntry, TranslationContext } from './translation-types';

/** Everything decided about an entry before its mode's planner runs. */
export interface EntryPlan {
  original: OciMount;
  entry: OverlayEntry;
  index: number;
  /** "mount 3 (/ov)", for messages. */
  where: string;
  mode: ResolvedMode;
  rule?: TranslationRule;
  context: TranslationContext;
  specAnnotations: Readonly<Record<string, string>>;
  /** The report's reasons so far; planners add theirs. */
  reasons: string[];
  /** Where the helper mounts the entry's view. */
  target: string;
  memoryBytes: number;
}

/**
 * An entry that names an upperdir promises persistence: memory and sandbox
 * break that promise, so they need a scratch rule. Sandbox needs runsc; an
 * upper needs a work directory.
 */
export function checkModeAllowed(plan: EntryPlan): void {
  const { entry, mode, where } = plan;
  if ((mode === 'memory' || mode === 'sandbox') && entry.upper !== undefined && plan.rule?.scratch !== true) {
    throw new InvalidArgumentError(
      `${where}: names upperdir ${entry.upper}, which promises that writes persist there (as runc does); mode ${mode} would keep them ${mode === 'memory' ? 'in memory and lose them at delete' : 'inside the sandbox'}. Use mode host or fuse, or mark the entry scratch in a policy rule if losing the writes is intended`,
    );
  }
  if (mode === 'sandbox' && plan.context.runtime.kind !== 'runsc') {
    throw new InvalidArgumentError(`${where}: mode sandbox needs runsc (the runtime is ${plan.context.runtime.kind}); use host, fuse or memory`);
  }
  if (entry.upper !== undefined && entry.work === undefined && (mode === 'host' || mode === 'fuse')) {
    throw new InvalidArgumentError(`${where}: upperdir without workdir; give a workdir on the same mount as ${entry.upper}`);
  }
}

function bindMount(original: OciMount, source: string, flags: readonly string[], readOnly: boolean): OciMount {
  const { type: _type, source: _source, options: _options, ...rest } = original;
  const kept = flags.filter((flag) => flag !== 'ro' && flag !== 'rw');
  return { ...rest, destination: original.destination, type: 'bind', source, options: ['rbind', readOnly ? 'ro' : 'rw', ...kept] };
}

function reportFor(plan: EntryPlan, backend: string, source: string, writes: string): ReportEntry {
  const { entry } = plan;
  return { index: plan.index, destination: entry.destination, mode: plan.mode, backend, lowers: entry.lowers, upper: entry.upper, source, writes, reasons: plan.reasons };
}

/** The quirks for this entry (entry, rule and policy against the probe of its upper), with the notes for the report. */
function entryQuirks(plan: EntryPlan): { choices: OverlayChoices; notes: string[] } {
  const { entry, context, rule } = plan;
  const probe = entry.upper === undefined ? undefined : context.probes.get(entry.upper);
  return selectQuirks({ entry: { ...entry.optionQuirks, ...entry.tsovQuirks }, policy: { ...context.policy.quirks, ...rule?.quirks } }, probe, plan.where);
}

/** The quirks' choices, their notes added to the report's reasons. */
function chosenQuirks(plan: EntryPlan): OverlayChoices {
  const { choices, notes } = entryQuirks(plan);
  plan.reasons.push(...notes);
  return choices;
}

function helperMount(plan: EntryPlan, backend: ResolvedBackend, layers: { upper?: string; work?: string }, choices: OverlayChoices): MountAction {
  const request: OverlayMountRequest = { owner: plan.context.containerId, lowers: plan.entry.lowers, ...layers, target: plan.target, backend, choices };
  if (backend === 'memory') request.memoryBytes = plan.memoryBytes;
  if (plan.context.userNamespace !== undefined) request.idMapping = plan.context.userNamespace;
  const problems = checkRequestShape(request);
  if (problems.length > 0) throw new InvalidArgumentError(`${plan.where}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  return { entryIndex: plan.index, request };
}

/** A read-only view of the lowers: the lower itself when there is one, else a kernel overlay of them on the host. */
function readOnlyView(plan: EntryPlan): { source: string; action?: MountAction; backend: string } {
  if (plan.entry.lowers.length === 1) return { source: plan.entry.lowers[0]!, backend: 'none (a bind of the only lower)' };
  return { source: plan.target, action: helperMount(plan, 'kernel', {}, chosenQuirks(plan)), backend: 'kernel (read-only merge on the host)' };
}

function planHostOrFuse(plan: EntryPlan): EntryOutcome {
  const { entry, original, mode, where } = plan;
  if (entry.upper === undefined) {
    const view = readOnlyView(plan);
    return { mount: bindMount(original, view.source, entry.flags, true), action: view.action, report: reportFor(plan, view.backend, view.source, 'nowhere: read-only (no upperdir)') };
  }
  let choices: OverlayChoices = {};
  if (mode === 'fuse') {
    const asked = Object.keys({ ...entry.optionQuirks, ...entry.tsovQuirks, ...plan.rule?.quirks });
    if (asked.length > 0) throw new InvalidArgumentError(`${where}: fuse-overlayfs takes no kernel overlay options, but ${asked.join(', ')} ${asked.length === 1 ? 'is' : 'are'} set; drop them or use mode host`);
  } else {
    choices = chosenQuirks(plan);
  }
  const action = helperMount(plan, mode === 'host' ? 'kernel' : 'fuse', { upper: entry.upper, work: entry.work }, choices);
  return {
    mount: bindMount(original, plan.target, entry.flags, entry.flags.includes('ro')),
    action,
    report: reportFor(plan, mode === 'host' ? 'kernel' : 'fuse-overlayfs', plan.target, `the host directory ${entry.upper} (persistent, as with runc)`),
  };
}

function planMemory(plan: EntryPlan): EntryOutcome {
  const { entry } = plan;
  if (entry.upper !== undefined) plan.reasons.push(`upperdir ${entry.upper} is not used: the policy marks this entry scratch`);
  const action = helperMount(plan, 'memory', {}, chosenQuirks(plan));
  return {
    mount: bindMount(plan.original, plan.target, entry.flags, entry.flags.includes('ro')),
    action,
    report: reportFor(plan, 'kernel over a tmpfs upper', plan.target, `memory (a tmpfs of ${plan.memoryBytes} bytes); lost when the container is deleted`),
  };
}

function planSandbox(plan: EntryPlan): EntryOutcome {
  const { entry, original, where, context } = plan;
  if (entry.flags.includes('ro') || entry.upper === undefined) {
    const view = readOnlyView(plan);
    plan.reasons.push('read-only entry: no sandbox overlay');
    return { mount: bindMount(original, view.source, entry.flags, true), action: view.action, report: reportFor(plan, view.backend, view.source, 'nowhere: read-only') };
  }
  plan.reasons.push(`upperdir ${entry.upper} is not used: writes stay in the sandbox (the policy marks this entry scratch)`);
  if (context.policy.sandbox.medium === 'self') {
    const unheeded = unheededMountHint(context.runtime, plan.specAnnotations);
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
      report: reportFor(plan, 'gVisor overlay, self-backed', source, `inside the sandbox: a hidden filestore file in ${source} (.gvisor.filestore.<sandbox id>), deleted with the container`),
      selfBacked: { name: `tsov-${plan.index}`, source, where, destination: entry.destination },
    };
  }
  const view = readOnlyView(plan);
  return {
    mount: bindMount(original, view.source, entry.flags, false),
    action: view.action,
    report: reportFor(plan, `gVisor overlay in memory over ${view.backend}`, view.source, 'inside the sandbox, in memory; lost when the container is deleted'),
    memoryBacked: where,
  };
}

export const PLANNERS: Record<ResolvedMode, (plan: EntryPlan) => EntryOutcome> = {
  host: planHostOrFuse,
  fuse: planHostOrFuse,
  memory: planMemory,
  sandbox: planSandbox,
};
