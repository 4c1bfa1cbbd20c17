#!/usr/bin/env node
/**
 * tsov: the command line for people.
 *
 *   tsov probe [DIR] [--refresh] [--json]      what overlayfs can do on DIR's filesystem
 *   tsov mounts [--owner ID] [--json]           the mounts tsov-helper made
 *   tsov unmount ID --owner ID [--detach]       unmount one of them
 *
 * Common options: --helper-socket PATH, --config FILE.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { StartupError } from '../common/errors';
import { runMain } from '../common/process-main';
import { loadPolicy } from '../policy/load-policy';
import { HelperCallError, HelperClient } from '../translator/helper/service/helper-client';
import { mountsCommand, unmountCommand } from './commands/mounts';
import { probeCommand } from './commands/probe';

const USAGE = `usage:
  tsov probe [DIR] [--refresh] [--json]      what overlayfs can do on the filesystem holding DIR
                                              (default: the snapshotter root)
  tsov mounts [--owner ID] [--json]           the mounts tsov-helper made and whether they are live
  tsov unmount ID --owner ID [--detach]       unmount one of them
options: --helper-socket PATH, --config FILE (default /etc/tsov/config.yaml when it exists)`;

const DEFAULT_CONFIG_FILE = '/etc/tsov/config.yaml';

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'helper-socket': { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      refresh: { type: 'boolean', default: false },
      owner: { type: 'string', default: '' },
      detach: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  const config = loadPolicy(values.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined));
  const client = new HelperClient(values['helper-socket'] ?? config.helper.socket);
  try {
    switch (command) {
      case 'probe':
        return await probeCommand(client, args[0] ?? config.snapshotter.root, { refresh: values.refresh, json: values.json });
      case 'mounts':
        return await mountsCommand(client, { owner: values.owner, json: values.json });
      case 'unmount': {
        const id = Number(args[0]);
        if (!Number.isSafeInteger(id) || id <= 0) throw new StartupError('tsov unmount needs a mount id (see `tsov mounts`)');
        if (values.owner === '') throw new StartupError('tsov unmount needs --owner (the owner shown by `tsov mounts`)');
        return await unmountCommand(client, id, { owner: values.owner, detach: values.detach });
      }
      default:
        throw new StartupError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof HelperCallError) throw new StartupError(error.message);
    throw error;
  } finally {
    client.close();
  }
}

runMain('tsov', main);
