/**
 * A CRI client (runtime.v1 RuntimeService and ImageService over containerd's
 * socket) that calls containerd the way kubelet does, built from tsov's
 * wire-compatible subset of kubernetes/cri-api's api.proto
 * (proto/k8s/cri/runtime/v1/api-subset.proto).
 */
import { credentials, type Client, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadProtoPackage } from './proto-clients';

type Callback = (error: ServiceError | null, value: unknown) => void;
type Method = (request: unknown, callback: Callback) => void;

export interface FilesystemUsage {
  timestamp: number;
  fs_id: { mountpoint: string } | null;
  used_bytes: { value: number } | null;
  inodes_used: { value: number } | null;
}

/** A user namespace as kubelet asks for it (hostUsers: false): mode POD and the pod's id range. */
export interface UserNamespace {
  mode: 'POD' | 'NODE';
  uids: Array<{ host_id: number; container_id: number; length: number }>;
  gids: Array<{ host_id: number; container_id: number; length: number }>;
}

export interface NamespaceOption {
  network: 'NODE' | 'POD';
  pid?: 'POD' | 'CONTAINER' | 'NODE';
  ipc?: 'POD' | 'NODE';
  userns_options?: UserNamespace;
}

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt: number };
  hostname?: string;
  log_directory: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux: { security_context: { namespace_options: NamespaceOption } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  log_path: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** kubelet repeats the pod's namespace options here (the user namespace among them). */
  linux?: { security_context: { namespace_options: NamespaceOption } };
}

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

function service(pkg: GrpcObject, name: string): ServiceClientConstructor {
  const v1 = (pkg['runtime'] as GrpcObject)['v1'] as GrpcObject;
  return v1[name] as ServiceClientConstructor;
}

export class CriClient {
  private readonly runtime: Client & Record<string, unknown>;
  private readonly images: Client & Record<string, unknown>;

  constructor(socketPath: string) {
    const pkg = loadProtoPackage('k8s/cri/runtime/v1/api-subset.proto');
    const address = `unix:${socketPath}`;
    this.runtime = new (service(pkg, 'RuntimeService'))(address, credentials.createInsecure()) as Client & Record<string, unknown>;
    this.images = new (service(pkg, 'ImageService'))(address, credentials.createInsecure()) as Client & Record<string, unknown>;
  }

  private call<T>(client: Client & Record<string, unknown>, method: string, request: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      (client[method] as Method).call(client, request, (error, value) => (error ? reject(new Error(`CRI ${method}: ${error.details || error.message}`)) : resolve(value as T)));
    });
  }

  version(): Promise<{ runtime_name: string; runtime_version: string; runtime_api_version: string }> {
    return this.call(this.runtime, 'Version', { version: 'v1' });
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    return (await this.call<{ pod_sandbox_id: string }>(this.runtime, 'RunPodSandbox', { config, runtime_handler: runtimeHandler })).pod_sandbox_id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call(this.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  }

  async listPodSandboxes(): Promise<Array<{ id: string }>> {
    return (await this.call<{ items: Array<{ id: string }> }>(this.runtime, 'ListPodSandbox', {})).items;
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ container_id: string }>(this.runtime, 'CreateContainer', { pod_sandbox_id: podSandboxId, config, sandbox_config: sandboxConfig })).container_id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'StartContainer', { container_id: id });
  }

  async stopContainer(id: string, timeoutSeconds = 10): Promise<void> {
    await this.call(this.runtime, 'StopContainer', { container_id: id, timeout: timeoutSeconds });
  }

  async removeContainer(id: string): Promise<void> {
    await this.call(this.runtime, 'RemoveContainer', { container_id: id });
  }

  async listContainers(): Promise<Array<{ id: string; pod_sandbox_id: string; state: ContainerState }>> {
    return (await this.call<{ containers: Array<{ id: string; pod_sandbox_id: string; state: ContainerState }> }>(this.runtime, 'ListContainers', {})).containers;
  }

  async containerStatus(id: string): Promise<{ state: ContainerState; exit_code: number; reason: string; message: string; log_path: string }> {
    return (await this.call<{ status: { state: ContainerState; exit_code: number; reason: string; message: string; log_path: string } }>(this.runtime, 'ContainerStatus', { container_id: id })).status;
  }

  async containerStats(id: string): Promise<{ writable_layer: FilesystemUsage | null }> {
    return (await this.call<{ stats: { writable_layer: FilesystemUsage | null } }>(this.runtime, 'ContainerStats', { container_id: id })).stats;
  }

  imageFsInfo(): Promise<{ image_filesystems: FilesystemUsage[]; container_filesystems: FilesystemUsage[] }> {
    return this.call(this.images, 'ImageFsInfo', {});
  }

  close(): void {
    this.runtime.close();
    this.images.close();
  }
}
