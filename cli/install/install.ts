/**
 * tsov install [--prefix /usr/local] [--destdir DIR] [--containerd-config FILE]
 * tsov uninstall [--prefix /usr/local] [--destdir DIR] [--containerd-config FILE] [--purge]
 *
 * Puts tsov on a node: links the executables into PREFIX/bin, the systemd
 * units into /etc/systemd/system (ExecStart pointing at PREFIX/bin), the
 * default policy at /etc/tsov/config.yaml (an existing one is never
 * overwritten), and the containerd snippet (printed, or merged into
 * --containerd-config with a backup). --destdir installs below another root
 * (packaging, tests). systemctl is left to the operator (the next steps are printed).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { StartupError } from '../../common/errors';
import { addProxyPlugin, containerdInstructions, parseContainerdVersion, removeProxyPlugin, type BlockOptions } from './containerd-config';
import { DEFAULT_HELPER_SOCKET, DEFAULT_SNAPSHOTTER_ROOT, DEFAULT_SNAPSHOTTER_SOCKET } from '../../policy/defaults';
import { containerdRootOf, imageFsPath, linkImageFilesystem, unlinkImageFilesystem } from './image-fs-link';
import { decideRemapCapability, probeIdmappedLayers, type RemapDecision, type RemapIdsChoice } from './remap-capability';

/** The repository (or installed package) this CLI runs from: dist/cli/install → three levels up. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The executables and their files, as package.json's bin lists them. */
const EXECUTABLES = (JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
/** The services and the sockets systemd holds for them (socket activation). */
const UNITS = ['tsov-helper.socket', 'tsov-helper.service', 'tsov-snapshotter.socket', 'tsov-snapshotter.service'];
const SHIPPED_PREFIX = '/usr/local';

export interface InstallOptions {
  prefix: string;
  destdir: string;
  containerdConfig?: string;
  purge?: boolean;
  /** Whether [proxy_plugins.tsov] lists remap-ids: where tsov-helper's probe passes (auto), always, or never. */
  remapIds?: RemapIdsChoice;
}

/** A unit as shipped, with its executables under prefix instead of /usr/local. Pure. */
export function unitForPrefix(unitText: string, prefix: string): string {
  return unitText.replaceAll(`${SHIPPED_PREFIX}/bin/`, `${prefix.replace(/\/$/, '')}/bin/`);
}

function under(destdir: string, file: string): string {
  return path.join(destdir || '/', file);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function backup(file: string): string {
  const copy = `${file}.tsov-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  fs.copyFileSync(file, copy);
  return copy;
}

/** The containerd in PATH, as it names its version. */
function containerdVersion(): { major: number; minor: number } | undefined {
  const result = spawnSync('containerd', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return result.status === 0 ? parseContainerdVersion(result.stdout) : undefined;
}

function blockOptions(containerdMajor: number, remap?: RemapDecision): BlockOptions {
  return { socket: DEFAULT_SNAPSHOTTER_SOCKET, root: DEFAULT_SNAPSHOTTER_ROOT, containerdMajor, capabilities: remap?.capabilities ?? [] };
}

/** remap-ids for this containerd: asks tsov-helper's probe of the snapshotter root when it matters (2.x, auto). */
async function remapDecision(containerdMajor: number, options: InstallOptions): Promise<RemapDecision> {
  const choice = options.remapIds ?? 'auto';
  if (containerdMajor < 2 || choice !== 'auto') return decideRemapCapability(containerdMajor, choice);
  const root = under(options.destdir, DEFAULT_SNAPSHOTTER_ROOT);
  say(`probing  idmapped overlay lowers on ${root} (tsov-helper)`);
  const probe = await probeIdmappedLayers(root, DEFAULT_HELPER_SOCKET, path.join(PACKAGE_ROOT, EXECUTABLES['tsov-helper']!)).catch((error: unknown) => ({
    ok: false,
    reason: `tsov-helper could not probe ${root}: ${error instanceof Error ? error.message : String(error)}`,
  }));
  return decideRemapCapability(containerdMajor, choice, probe);
}

export async function install(options: InstallOptions): Promise<void> {
  if (!path.isAbsolute(options.prefix)) throw new StartupError('--prefix must be an absolute path');
  const binDir = under(options.destdir, path.join(options.prefix, 'bin'));
  fs.mkdirSync(binDir, { recursive: true });
  for (const [name, relative] of Object.entries(EXECUTABLES)) {
    const link = path.join(binDir, name);
    const target = path.join(PACKAGE_ROOT, relative);
    if (!fs.existsSync(target)) throw new StartupError(`${target} is missing; run npm run build first`);
    const existing = fs.lstatSync(link, { throwIfNoEntry: false });
    if (existing !== undefined && !existing.isSymbolicLink()) throw new StartupError(`${link} exists and is not a link tsov made; remove it or use another --prefix`);
    if (existing !== undefined) fs.unlinkSync(link);
    fs.symlinkSync(target, link);
    say(`linked   ${link} -> ${target}`);
  }
  const unitDir = under(options.destdir, '/etc/systemd/system');
  fs.mkdirSync(unitDir, { recursive: true });
  for (const unit of UNITS) {
    const text = unitForPrefix(fs.readFileSync(path.join(PACKAGE_ROOT, 'systemd', unit), 'utf8'), options.prefix);
    fs.writeFileSync(path.join(unitDir, unit), text, { mode: 0o644 });
    say(`wrote    ${path.join(unitDir, unit)}`);
  }
  const policyDir = under(options.destdir, '/etc/tsov');
  const policy = path.join(policyDir, 'config.yaml');
  const shipped = fs.readFileSync(path.join(PACKAGE_ROOT, 'config.example.yaml'), 'utf8');
  fs.mkdirSync(policyDir, { recursive: true, mode: 0o755 });
  if (!fs.existsSync(policy)) {
    fs.writeFileSync(policy, shipped, { mode: 0o644 });
    say(`wrote    ${policy} (the default policy; edit it, then systemctl reload tsov-helper tsov-snapshotter)`);
  } else if (fs.readFileSync(policy, 'utf8') === shipped) {
    say(`kept     ${policy} (unchanged default)`);
  } else {
    fs.writeFileSync(`${policy}.example`, shipped, { mode: 0o644 });
    say(`kept     ${policy} (edited; the shipped default is in ${policy}.example)`);
  }
  const version = containerdVersion();
  if (options.containerdConfig === undefined) {
    const remap = await remapDecision(version?.major ?? 2, options);
    say(remap.line);
    say('');
    if (version === undefined) say('(containerd --version did not answer: showing what containerd 2.x needs; 1.x needs only the [proxy_plugins.tsov] table, in a version = 2 file)');
    say(containerdInstructions(blockOptions(version?.major ?? 2, remap), path.join(options.prefix, 'bin', 'tsov-runtime')));
  } else {
    if (version === undefined) throw new StartupError('cannot tell which containerd this is: `containerd --version` did not answer; put containerd in PATH (its config differs between 1.x and 2.x)');
    say(`found    containerd ${version.major}.${version.minor}`);
    const remap = await remapDecision(version.major, options);
    say(remap.line);
    const file = options.containerdConfig;
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const merged = addProxyPlugin(current, blockOptions(version.major, remap));
    if (merged.changed) {
      const saved = current === '' ? undefined : backup(file);
      fs.writeFileSync(file, merged.text);
      say(`merged   [proxy_plugins.tsov]${version.major >= 2 ? ' and the transfer unpack_config for tsov' : ''} into ${file}${saved ? ` (backup: ${saved})` : ''}; restart containerd`);
    } else {
      say(`kept     ${file}: ${merged.reason}`);
    }
    if (version.major === 1 && version.minor <= 6) {
      const link = under(options.destdir, imageFsPath(containerdRootOf(current)));
      const outcome = linkImageFilesystem(link, DEFAULT_SNAPSHOTTER_ROOT);
      say(`${outcome === 'linked' ? 'linked  ' : 'kept    '} ${link} -> ${DEFAULT_SNAPSHOTTER_ROOT} (containerd 1.6's CRI reports it as tsov's image filesystem)`);
    }
  }
  say('');
  say('next: systemctl daemon-reload && systemctl enable --now tsov-helper tsov-snapshotter && systemctl restart containerd');
}

export function uninstall(options: InstallOptions): void {
  const binDir = under(options.destdir, path.join(options.prefix, 'bin'));
  for (const [name, relative] of Object.entries(EXECUTABLES)) {
    const link = path.join(binDir, name);
    const existing = fs.lstatSync(link, { throwIfNoEntry: false });
    if (existing?.isSymbolicLink() && fs.readlinkSync(link) === path.join(PACKAGE_ROOT, relative)) {
      fs.unlinkSync(link);
      say(`removed  ${link}`);
    } else if (existing !== undefined) {
      say(`left     ${link} (not a link to this tsov)`);
    }
  }
  for (const unit of UNITS) {
    const file = under(options.destdir, path.join('/etc/systemd/system', unit));
    if (fs.existsSync(file)) {
      fs.unlinkSync(file);
      say(`removed  ${file}`);
    }
  }
  const policyDir = under(options.destdir, '/etc/tsov');
  if (options.purge === true) {
    fs.rmSync(policyDir, { recursive: true, force: true });
    say(`removed  ${policyDir}`);
  } else if (fs.existsSync(policyDir)) {
    say(`kept     ${policyDir} (--purge removes it)`);
  }
  if (options.containerdConfig !== undefined && fs.existsSync(options.containerdConfig)) {
    const file = options.containerdConfig;
    const text = fs.readFileSync(file, 'utf8');
    const link = under(options.destdir, imageFsPath(containerdRootOf(text)));
    if (unlinkImageFilesystem(link, DEFAULT_SNAPSHOTTER_ROOT)) say(`removed  ${link}`);
    const removed = removeProxyPlugin(text);
    if (removed.changed) {
      const saved = backup(file);
      fs.writeFileSync(file, removed.text);
      say(`removed  [proxy_plugins.tsov] from ${file} (backup: ${saved}); restart containerd`);
    } else {
      say(`kept     ${file}: ${removed.reason}`);
    }
  }
  say('next: systemctl disable --now tsov-snapshotter tsov-snapshotter.socket tsov-helper tsov-helper.socket; systemctl daemon-reload');
}
