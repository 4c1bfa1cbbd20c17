/**
 * The translation part of the policy: which mode each spec overlay entry gets,
 * which overlay quirks are forced or forbidden, which entries are scratch
 * (their writes may stay in memory or in the sandbox), and what the runtime
 * is. Rules are matched in order; the first that matches decides. Pure.
 */
import type { Mode, QuirkSettings, RuntimeKind, SandboxMedium } from './policy-vocabulary';
import { DEFAULT_TRANSLATION_STATE_DIR } from './defaults';

export interface TranslationRule {
  /** Destination glob: `*` matches within one path component, `**` across components. */
  destination?: string;
  runtime?: RuntimeKind;
  /** Every listed annotation must be present with this value. */
  annotations?: Record<string, string>;
  mode?: Mode;
  /** Writes to this entry may be lost at delete (memory) or kept inside the sandbox. */
  scratch?: boolean;
  quirks?: QuirkSettings;
  memoryBytes?: number;
}

export type { SandboxMedium } from './policy-vocabulary';

export interface TranslationPolicy {
  /** Merged directories go to <stateDir>/<container id>/<mount index>/merged. */
  stateDir: string;
  defaultModes: Record<RuntimeKind, Mode>;
  rules: TranslationRule[];
  /** Applied to every entry; a rule's quirks override these. */
  quirks: QuirkSettings;
  memoryBytes: number;
  sandbox: {
    /** Where writes to a sandbox-overlaid entry go inside runsc. */
    medium: SandboxMedium;
    /** Ask runsc to overlay the container's rootfs too. */
    rootfsOverlay: 'none' | SandboxMedium;
  };
}

export interface RuntimeSettings {
  kind: RuntimeKind;
  /** The real runtime tsov-runtime runs. */
  binary: string;
  /** e.g. "release-20250611.0"; decides which gVisor annotations are accepted. */
  runscVersion?: string;
  /** runsc runs with --allow-flag-override (needed for flag annotations before release-20250106). */
  runscAllowFlagOverride: boolean;
}

export const DEFAULT_TRANSLATION_POLICY: TranslationPolicy = {
  stateDir: DEFAULT_TRANSLATION_STATE_DIR,
  // host for runsc too (gVisor #4768: "both, defaulting to the host overlay"); sandbox only where asked.
  defaultModes: { runc: 'auto', crun: 'auto', runsc: 'host' },
  rules: [],
  quirks: {},
  memoryBytes: 256 * 1024 * 1024,
  sandbox: { medium: 'self', rootfsOverlay: 'none' },
};

export const DEFAULT_RUNTIME: RuntimeSettings = { kind: 'runc', binary: '/usr/sbin/runc', runscAllowFlagOverride: false };

/** A destination glob as a regular expression: `**` spans components, `*` does not. */
export function globToRegExp(glob: string): RegExp {
  let pattern = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      pattern += '.*';
      i++;
    } else if (ch === '*') {
      pattern += '[^/]*';
    } else if (ch === '?') {
      pattern += '[^/]';
    } else {
      pattern += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${pattern}$`);
}

export interface RuleSubject {
  destination: string;
  runtime: RuntimeKind;
  annotations: Readonly<Record<string, string>>;
}

export function ruleMatches(rule: TranslationRule, subject: RuleSubject): boolean {
  if (rule.runtime !== undefined && rule.runtime !== subject.runtime) return false;
  if (rule.destination !== undefined && !globToRegExp(rule.destination).test(subject.destination)) return false;
  for (const [key, value] of Object.entries(rule.annotations ?? {})) {
    if (subject.annotations[key] !== value) return false;
  }
  return true;
}

/** The first rule that matches, with its position (for the report), or none. */
export function matchRule(rules: readonly TranslationRule[], subject: RuleSubject): { rule: TranslationRule; position: number } | undefined {
  const position = rules.findIndex((rule) => ruleMatches(rule, subject));
  return position === -1 ? undefined : { rule: rules[position]!, position };
}
