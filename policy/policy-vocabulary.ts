/**
 * The words a policy is written in — translation modes, overlay quirks and
 * their settings, runtime kinds, sandbox media — defined once; the types, the
 * JSON Schema (policy-schema.ts) and the translator are derived from them.
 */

/** What a spec overlay entry becomes (README, "Overlay mounts in OCI specs"). */
export const MODES = ['host', 'fuse', 'memory', 'sandbox', 'auto'] as const;
export type Mode = (typeof MODES)[number];
export type ResolvedMode = Exclude<Mode, 'auto'>;

/** Overlay features a policy or an entry may force or forbid. */
export const QUIRKS = ['userxattr', 'index', 'redirect_dir', 'metacopy', 'xino', 'volatile'] as const;
export type QuirkName = (typeof QUIRKS)[number];
/** force: the option is turned on; forbid: turned off (or left out). */
export const QUIRK_SETTINGS = ['force', 'forbid'] as const;
export type QuirkSetting = (typeof QUIRK_SETTINGS)[number];
export type QuirkSettings = Partial<Record<QuirkName, QuirkSetting>>;

/** runc, crun and runsc; which one decides what a spec overlay entry can become. */
export const RUNTIME_KINDS = ['runc', 'crun', 'runsc'] as const;
export type RuntimeKind = (typeof RUNTIME_KINDS)[number];

/** Where writes to a sandbox-overlaid entry go inside runsc. */
export const SANDBOX_MEDIA = ['self', 'memory'] as const;
export type SandboxMedium = (typeof SANDBOX_MEDIA)[number];

/** snapshotter.remap_ids: idmapped layers for containerd's uid/gid mapping labels where the probe finds they work, or never. */
export const REMAP_IDS_SETTINGS = ['auto', 'off'] as const;
export type RemapIdsSetting = (typeof REMAP_IDS_SETTINGS)[number];
