#!/usr/bin/env -S node --no-opt
/**
 * tsov: the command line for people.
 *
 *   tsov probe [DIR] [--refresh] [--json]      what overlayfs can do on DIR's filesystem
 *   tsov mounts [--owner ID] [--json]           the mounts tsov-helper made
 *   tsov unmount ID --owner ID [--detach]       unmount one of them
 *   tsov release OWNER                          unmount all mounts of an owner
 *   tsov translate --spec FILE [--runtime K] [--id ID] [--dry-run] [--json]
 *   tsov policy check FILE                      validate a policy and print the effective one
 *   tsov health [snapshotter|helper] [--socket P] [--timeout S] [--live] [--json]   whether the daemons serve (exit 0)
 *
 * Common options: --helper-socket PATH, --config FILE.
 *
 * --no-opt (the #! line): a command runs for a fraction of a second, and
 * V8's optimizing compiler spent ~10% of `tsov health`'s CPU (the
 * DaemonSet's probes run it every few seconds) on code the process exits
 * before it runs: 205 against 183 ms, 20 runs each.
 */
import { existsSync } from 'node:fs';
import { parseCommandLine } from '../common/command-line';
import { StartupError, TsovError, UsageError } from '../common/errors';
import { runMain } from '../common/process-main';
import type { HealthTarget } from './commands/health';
import type { RemapIdsChoice } from './install/remap-capability';
import { DEFAULT_POLICY_FILE } from '../policy/defaults';

// Each command's modules are loaded when it runs, not at start: `tsov health`, which the
// DaemonSet's probes run every few seconds, then loads no helper client, installer or
// translator (0.20 against 0.34 s of CPU per run here).

/** Each command's usage line and what it does (the --help text, and the usage an argument error shows). */
const COMMANDS: ReadonlyArray<[name: string, usage: string, description: string]> = [
  ['probe', 'tsov probe [DIR] [--refresh] [--json]', 'what overlayfs can do on the filesystem holding DIR (default: the snapshotter root)'],
  ['mounts', 'tsov mounts [--owner ID] [--json]', 'the mounts tsov-helper made and whether they are live'],
  ['unmount', 'tsov unmount ID --owner OWNER [--detach]', 'unmount one of them'],
  ['release', 'tsov release OWNER', 'unmount every mount of OWNER (e.g. after tsov translate)'],
  ['translate', 'tsov translate --spec config.json [--runtime runc|crun|runsc] [--id ID] [--dry-run] [--json]', "rewrite a spec's type: overlay mounts and say where writes go; without --dry-run, tsov-helper also mounts (owner ID)"],
  ['policy', 'tsov policy check FILE', 'validate a policy file and print the effective policy'],
  ['health', 'tsov health [snapshotter|helper] [--socket PATH] [--timeout SECONDS] [--live] [--json]', "ask each daemon (or the one named) gRPC's health check: exit 0 when all serve, or with --live when all answer (the DaemonSet's probes run this; liveness with --live)"],
  ['install', 'tsov install [--prefix /usr/local] [--destdir DIR] [--containerd-config FILE] [--remap-ids auto|on|off]', 'link the executables, write the units and the default policy, print (or merge, with a backup) the containerd config; on containerd 2.x list remap-ids where tsov-helper finds idmapped layers work (auto)'],
  ['uninstall', 'tsov uninstall [--prefix P] [--destdir DIR] [--containerd-config FILE] [--purge]', 'remove what install wrote'],
];
const COMMON_OPTIONS = 'options: --helper-socket PATH, --config FILE (default /etc/tsov/config.yaml when it exists)';
const USAGE = ['usage:', ...COMMANDS.map(([, usage, description]) => `  ${usage}\n      ${description}`), COMMON_OPTIONS].join('\n');
const SHORT_USAGE = `usage: tsov ${COMMANDS.map(([name]) => name).join('|')} [options] (tsov --help says more)`;

/** The one-line usage of a command, for its argument errors. */
function usageOf(command: string | undefined): string {
  const line = COMMANDS.find(([name]) => name === command)?.[1];
  return line === undefined ? SHORT_USAGE : `usage: ${line}`;
}


async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    allowPositionals: true,
    options: {
      'helper-socket': { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      refresh: { type: 'boolean', default: false },
      owner: { type: 'string', default: '' },
      detach: { type: 'boolean', default: false },
      spec: { type: 'string' },
      runtime: { type: 'string' },
      id: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      prefix: { type: 'string', default: '/usr/local' },
      destdir: { type: 'string', default: '' },
      'containerd-config': { type: 'string' },
      purge: { type: 'boolean', default: false },
      'remap-ids': { type: 'string', default: 'auto' },
      socket: { type: 'string' },
      timeout: { type: 'string', default: '5' },
      live: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  }, usageOf(process.argv.slice(2).find((arg) => !arg.startsWith('-'))));
  const [command, ...args] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === undefined) throw new UsageError('no command given', SHORT_USAGE);
  if (!COMMANDS.some(([name]) => name === command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`, SHORT_USAGE);
  if (command === 'install' || command === 'uninstall') {
    const { REMAP_IDS_CHOICES } = await import('./install/remap-capability');
    const { install, uninstall } = await import('./install/install');
    const remapIds = values['remap-ids'] as RemapIdsChoice;
    if (!REMAP_IDS_CHOICES.includes(remapIds)) throw new UsageError(`--remap-ids must be one of ${REMAP_IDS_CHOICES.join(', ')}`, usageOf(command));
    const options = { prefix: values.prefix, destdir: values.destdir, containerdConfig: values['containerd-config'], purge: values.purge, remapIds };
    if (command === 'install') await install(options);
    else uninstall(options);
    return 0;
  }
  const policy = async () => {
    const { loadPolicy } = await import('../policy/load-policy');
    return loadPolicy(values.config ?? (existsSync(DEFAULT_POLICY_FILE) ? DEFAULT_POLICY_FILE : undefined));
  };
  if (command === 'health') {
    const { healthCommand } = await import('./commands/health');
    const target = args[0];
    if (target !== undefined && target !== 'snapshotter' && target !== 'helper') throw new UsageError('tsov health takes snapshotter, helper or nothing (both)', usageOf(command));
    if (target === undefined && values.socket !== undefined) throw new UsageError('tsov health --socket names one daemon\'s socket: say which (snapshotter or helper)', usageOf(command));
    const timeoutSeconds = Number(values.timeout);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new UsageError('--timeout must be a number of seconds above 0', usageOf(command));
    const targets: readonly HealthTarget[] = target === undefined ? ['snapshotter', 'helper'] : [target];
    // A probe that names its sockets reads no policy (the YAML parser is a third of its start-up).
    const named = (each: HealthTarget) => values.socket ?? (each === 'helper' ? values['helper-socket'] : undefined);
    const config = targets.every((each) => named(each) !== undefined) ? undefined : await policy();
    const socketOf = (each: HealthTarget) => named(each) ?? (each === 'helper' ? config!.helper.socket : config!.snapshotter.address);
    let status = 0;
    for (const each of targets) status = Math.max(status, await healthCommand(each, socketOf(each), { timeoutSeconds, json: values.json, live: values.live }));
    return status;
  }
  const config = await policy();
  const { HelperClient } = await import('../helper/api/helper-client');
  const client = HelperClient.forPolicy(config.helper, { socket: values['helper-socket'] });
  try {
    switch (command) {
      case 'probe': {
        const { probeCommand } = await import('./commands/probe');
        return await probeCommand(client, args[0] ?? config.snapshotter.root, { refresh: values.refresh, json: values.json });
      }
      case 'mounts': {
        const { mountsCommand } = await import('./commands/mounts');
        return await mountsCommand(client, { owner: values.owner, json: values.json });
      }
      case 'unmount': {
        const id = Number(args[0]);
        if (!Number.isSafeInteger(id) || id <= 0) throw new UsageError('tsov unmount needs a mount id (see `tsov mounts`)', usageOf(command));
        if (values.owner === '') throw new UsageError('tsov unmount needs --owner (the owner shown by `tsov mounts`)', usageOf(command));
        const { unmountCommand } = await import('./commands/mounts');
        return await unmountCommand(client, id, { owner: values.owner, detach: values.detach });
      }
      case 'release': {
        if (args[0] === undefined) throw new UsageError('tsov release needs an owner (see `tsov mounts`)', usageOf(command));
        const released = await client.release(args[0], true);
        process.stdout.write(`released ${released.length} mount(s) of ${args[0]}\n`);
        return 0;
      }
      case 'translate': {
        if (values.spec === undefined) throw new UsageError('tsov translate needs --spec FILE', usageOf(command));
        const { translateCommand } = await import('./commands/translate');
        return await translateCommand(client, config, { specFile: values.spec, runtime: values.runtime, id: values.id ?? `tsov-translate-${process.pid}`, dryRun: values['dry-run'], json: values.json });
      }
      case 'policy':
        if (args[0] !== 'check' || args[1] === undefined) throw new UsageError('tsov policy needs check FILE', usageOf(command));
        process.stdout.write(`${JSON.stringify((await import('../policy/load-policy')).loadPolicy(args[1]), null, 2)}\n`);
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`, SHORT_USAGE);
    }
  } catch (error) {
    if (error instanceof TsovError) throw new StartupError(error.message);
    throw error;
  } finally {
    client.close();
  }
}

runMain('tsov', main);
