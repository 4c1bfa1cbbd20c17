/**
 * A promise-based client of the Snapshots service for tests, built from the
 * same .proto files the server loads.
 */
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import type { MountSpec } from '../../common/overlay-mounts';
import { serviceClientConstructor } from './proto-clients';
import { SNAPSHOTS_PROTO, SNAPSHOTS_SERVICE, type WireInfo } from '../../snapshotter/grpc-server';

type Callback<T> = (error: ServiceError | null, value: T) => void;
type Method = (request: unknown, options: { deadline?: number }, callback: Callback<unknown>) => void;

export class SnapshotsClient {
  private readonly client: Client & Record<string, unknown>;

  /** @param options.deadlineMs each call's time limit (none by default: a test's own limit applies) */
  constructor(
    socketPath: string,
    private readonly options: { deadlineMs?: number } = {},
  ) {
    const Constructor = serviceClientConstructor(SNAPSHOTS_PROTO, SNAPSHOTS_SERVICE);
    this.client = new Constructor(`unix:${socketPath}`, credentials.createInsecure()) as Client & Record<string, unknown>;
  }

  private call<T>(method: string, request: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = this.client[method] as Method;
      const callOptions = this.options.deadlineMs === undefined ? {} : { deadline: Date.now() + this.options.deadlineMs };
      fn.call(this.client, { snapshotter: 'tsov', ...request }, callOptions, (error: ServiceError | null, value: unknown) => (error ? reject(error) : resolve(value as T)));
    });
  }

  async prepare(key: string, parent = '', labels: Record<string, string> = {}): Promise<MountSpec[]> {
    return (await this.call<{ mounts: MountSpec[] }>('Prepare', { key, parent, labels })).mounts;
  }

  async view(key: string, parent = '', labels: Record<string, string> = {}): Promise<MountSpec[]> {
    return (await this.call<{ mounts: MountSpec[] }>('View', { key, parent, labels })).mounts;
  }

  async mounts(key: string): Promise<MountSpec[]> {
    return (await this.call<{ mounts: MountSpec[] }>('Mounts', { key })).mounts;
  }

  async commit(name: string, key: string, labels: Record<string, string> = {}, parent = ''): Promise<void> {
    await this.call('Commit', { name, key, labels, parent });
  }

  async remove(key: string): Promise<void> {
    await this.call('Remove', { key });
  }

  async stat(key: string): Promise<WireInfo> {
    return (await this.call<{ info: WireInfo }>('Stat', { key })).info;
  }

  async update(info: Partial<WireInfo> & { name: string }, paths?: string[]): Promise<WireInfo> {
    const request: Record<string, unknown> = { info };
    if (paths !== undefined) request.update_mask = { paths };
    return (await this.call<{ info: WireInfo }>('Update', request)).info;
  }

  async usage(key: string): Promise<{ size: number; inodes: number }> {
    return this.call('Usage', { key });
  }

  async cleanup(): Promise<void> {
    await this.call('Cleanup', {});
  }

  list(filters: string[] = []): Promise<WireInfo[]> {
    return new Promise((resolve, reject) => {
      const stream = (this.client['List'] as (r: unknown) => NodeJS.ReadableStream).call(this.client, { snapshotter: 'tsov', filters });
      const infos: WireInfo[] = [];
      stream.on('data', (message: { info: WireInfo[] }) => infos.push(...message.info));
      stream.on('error', reject);
      stream.on('end', () => resolve(infos));
    });
  }

  /**
   * The overlay of a container's active snapshot, which containerd names
   * NAMESPACE/N/CONTAINER in the snapshotter: its options, upper and lowers.
   */
  async containerOverlay(container: string): Promise<{ options: string[]; upper: string; lowers: string[] }> {
    const key = (await this.list(['kind==active'])).map((info) => info.name).find((name) => name.endsWith(`/${container}`));
    if (key === undefined) throw new Error(`no active snapshot for container ${container}`);
    const [mount] = await this.mounts(key);
    const option = (name: string) => mount!.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1) ?? '';
    return { options: mount!.options, upper: option('upperdir'), lowers: option('lowerdir').split(':') };
  }

  close(): void {
    this.client.close();
  }
}
