/**
 * tsov mounts [--owner ID] [--json]: the mounts tsov-helper made (its
 * journal), and whether each is still mounted; tsov unmount ID --owner ID.
 */
import type { HelperClient } from '../../helper/api/helper-client';
import type { MountView } from '../../helper/api/wire';
import { formatTable } from '../table';

/** Pure. */
export function formatMounts(mounts: readonly MountView[]): string {
  if (mounts.length === 0) return 'no mounts (tsov-helper has none in its journal)';
  const rows = mounts.map((m) => [
    String(m.id),
    m.owner,
    m.backend,
    m.state,
    String(m.lowers.length),
    m.upper || (m.memoryDirectory ? `(memory ${m.memoryDirectory})` : '(read-only)'),
    m.target,
  ]);
  return formatTable(['ID', 'OWNER', 'BACKEND', 'STATE', 'LOWERS', 'UPPER', 'TARGET'], rows);
}

export async function mountsCommand(client: HelperClient, options: { owner: string; json: boolean }): Promise<number> {
  const mounts = await client.list(options.owner);
  process.stdout.write(options.json ? `${JSON.stringify(mounts, null, 2)}\n` : `${formatMounts(mounts)}\n`);
  return 0;
}

export async function unmountCommand(client: HelperClient, id: number, options: { owner: string; detach: boolean }): Promise<number> {
  const { detached } = await client.unmount(id, options.owner, options.detach);
  process.stdout.write(`mount ${id} ${detached ? 'detached (the kernel finishes when its last user lets go)' : 'unmounted'}\n`);
  return 0;
}
