/**
 * tsov translate --spec config.json [--runtime runc|crun|runsc] [--id ID] [--dry-run] [--json]
 *
 * Shows what tsov-runtime would do with a spec: the rewritten spec and, per
 * overlay entry, the mode, the backend and where writes go. Uses tsov-helper's
 * probe when the helper answers. Without --dry-run it also has the helper
 * mount what the translation needs (owner ID; `tsov release ID` undoes it).
 */
import { InvalidArgumentError } from '../../common/errors';
import type { Policy } from '../../policy/policy-model';
import type { RuntimeSettings } from '../../policy/translation-policy';
import type { HelperClient } from '../../helper/api/helper-client';
import { mountForContainer, probeUppers } from '../../translator/runtime/container-mounts';
import { readSpecDocument } from '../../translator/runtime/spec-file';
import { renderSpecDocument } from '../../translator/spec/spec-document';
import { RUNTIME_KINDS, type RuntimeKind } from '../../translator/spec/oci-spec';
import { translate, type Translation } from '../../translator/translate';

export interface TranslateOptions {
  specFile: string;
  runtime?: string;
  id: string;
  dryRun: boolean;
  json: boolean;
}

/** The report for people. Pure. */
export function formatTranslation(translation: Translation): string {
  if (translation.report.length === 0) return 'no type: overlay mounts; the spec is unchanged';
  const blocks = translation.report.map((entry) =>
    [
      `mount ${entry.index} ${entry.destination}: mode ${entry.mode}, ${entry.backend}`,
      `  layers: ${entry.lowers.join(':')}${entry.upper ? `  upper: ${entry.upper}` : ''}`,
      `  bind source: ${entry.source}`,
      `  writes go to: ${entry.writes}`,
      ...entry.reasons.map((reason) => `  - ${reason}`),
    ].join('\n'),
  );
  const notes = translation.notes.map((note) => `note: ${note}`);
  return [...blocks, ...notes].join('\n');
}

function runtimeFor(policy: Policy, kind: string | undefined): RuntimeSettings {
  if (kind === undefined) return policy.runtime;
  if (!(RUNTIME_KINDS as readonly string[]).includes(kind)) throw new InvalidArgumentError(`--runtime must be one of ${RUNTIME_KINDS.join(', ')}`);
  return { ...policy.runtime, kind: kind as RuntimeKind };
}

export async function translateCommand(client: HelperClient, policy: Policy, options: TranslateOptions): Promise<number> {
  const document = readSpecDocument(options.specFile);
  const spec = document.spec;
  const runtime = runtimeFor(policy, options.runtime);
  const context = { containerId: options.id, policy: policy.translation, runtime, userNamespace: document.userNamespace };
  let translation: Translation;
  if (options.dryRun) {
    const probes = await probeUppers(spec, client).catch(() => new Map());
    translation = translate(spec, { ...context, probes });
  } else {
    translation = (await mountForContainer(spec, context, client)).translation;
  }
  // The spec as tsov-runtime writes it: the original text with only the changed parts replaced (numbers kept exactly).
  const specText = renderSpecDocument(document, translation.spec);
  if (options.json) {
    process.stdout.write(`{"spec":${specText},"actions":${JSON.stringify(translation.actions)},"report":${JSON.stringify(translation.report)}}\n`);
    for (const note of translation.notes) process.stderr.write(`note: ${note}\n`);
  } else {
    process.stdout.write(`${specText}\n\n${formatTranslation(translation)}\n`);
    if (!options.dryRun && translation.actions.length > 0) process.stdout.write(`mounted for owner ${options.id}; \`tsov release ${options.id}\` unmounts\n`);
  }
  return 0;
}
