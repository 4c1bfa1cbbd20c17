/**
 * The overlay option words for a request's typed choices: fixed words, never
 * text from the request. tsov-mount gets them as --flag/--set arguments (and
 * checks them against its own list again); the journal records them with the
 * layer paths as mountinfo shows them.
 */
import type { OverlayChoices } from '../api/mount-request';

/** The option words for the typed choices, in a fixed order. */
export function choiceOptions(choices: OverlayChoices): string[] {
  const options: string[] = [];
  if (choices.userxattr === true) options.push('userxattr');
  if (choices.index !== undefined) options.push(`index=${choices.index}`);
  if (choices.redirectDir !== undefined) options.push(`redirect_dir=${choices.redirectDir}`);
  if (choices.metacopy !== undefined) options.push(`metacopy=${choices.metacopy}`);
  if (choices.xino !== undefined) options.push(`xino=${choices.xino}`);
  if (choices.nfsExport !== undefined) options.push(`nfs_export=${choices.nfsExport}`);
  if (choices.volatile === true) options.push('volatile');
  return options;
}
