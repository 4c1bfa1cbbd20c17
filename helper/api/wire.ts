/**
 * tsov.helper.v1 messages (proto/tsov/helper/v1/helper.proto, snake_case as
 * proto-loader keeps it) to the helper's own types and back. Empty strings
 * and zeros on the wire mean "not given".
 */
import { loadServiceCodecs, type ServiceCodecs } from '../../common/proto-codecs';
import { HELPER_SERVICE } from '../../common/served-services';
import type { JournalEntry } from '../journal/mount-journal';
import type { Check, ProbeReport } from './probe-report';
import type { Backend, OverlayChoices, OverlayMountRequest } from './mount-request';
import { OVERLAY_OPTIONS } from './overlay-options';
import type { IdMapRange } from '../../common/id-mapping';

export const HELPER_PROTO = 'tsov/helper/v1/helper.proto';

/** The methods, for the server (grpc-unix-server.ts) and the client (grpc-unix-client.ts). */
export function helperServiceCodecs(): ServiceCodecs {
  return loadServiceCodecs(HELPER_PROTO, HELPER_SERVICE);
}

type Wire = Record<string, unknown>;

const text = (value: unknown): string => (typeof value === 'string' ? value : '');
const optionalText = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const count = (value: unknown): number => (typeof value === 'number' ? value : Number(value ?? 0));

function rangesFromWire(value: unknown): IdMapRange[] {
  return (Array.isArray(value) ? (value as Wire[]) : []).map((range) => ({ containerId: count(range.container_id), hostId: count(range.host_id), size: count(range.size) }));
}

function rangesToWire(ranges: readonly IdMapRange[]): Wire[] {
  return ranges.map((range) => ({ container_id: range.containerId, host_id: range.hostId, size: range.size }));
}

function choicesFromWire(wire: Wire): OverlayChoices {
  const choices: Record<string, unknown> = {};
  for (const option of OVERLAY_OPTIONS) {
    const value = wire[option.wire];
    if (option.values === 'flag' ? value === true : typeof value === 'string' && value !== '') choices[option.field] = value;
  }
  return choices as OverlayChoices;
}

function choicesToWire(choices: OverlayChoices): Wire {
  return Object.fromEntries(OVERLAY_OPTIONS.map((option) => [option.wire, option.values === 'flag' ? choices[option.field] === true : (choices[option.field] ?? '')]));
}

export function mountRequestFromWire(wire: Wire): OverlayMountRequest {
  const request: OverlayMountRequest = {
    owner: text(wire.owner),
    lowers: Array.isArray(wire.lowers) ? wire.lowers.map(text) : [],
    upper: optionalText(wire.upper),
    work: optionalText(wire.work),
    target: text(wire.target),
    backend: text(wire.backend) as Backend,
    choices: choicesFromWire((wire.choices ?? {}) as Wire),
    ownerAlivePath: optionalText(wire.owner_alive_path),
  };
  if (count(wire.memory_bytes) > 0) request.memoryBytes = count(wire.memory_bytes);
  if (count(wire.owner_pid) > 0) request.ownerPid = count(wire.owner_pid);
  const uid = rangesFromWire(wire.uid_mappings);
  const gid = rangesFromWire(wire.gid_mappings);
  if (uid.length > 0 || gid.length > 0) request.idMapping = { uid, gid };
  return request;
}

export function mountRequestToWire(request: OverlayMountRequest): Wire {
  const c = request.choices ?? {};
  return {
    owner: request.owner,
    lowers: request.lowers,
    upper: request.upper ?? '',
    work: request.work ?? '',
    target: request.target,
    backend: request.backend,
    choices: choicesToWire(c),
    memory_bytes: request.memoryBytes ?? 0,
    owner_alive_path: request.ownerAlivePath ?? '',
    owner_pid: request.ownerPid ?? 0,
    uid_mappings: rangesToWire(request.idMapping?.uid ?? []),
    gid_mappings: rangesToWire(request.idMapping?.gid ?? []),
  };
}

/** A mount as the helper reports it (List, Mount). */
export interface MountView {
  id: number;
  owner: string;
  backend: string;
  backendReason: string;
  lowers: string[];
  upper: string;
  work: string;
  target: string;
  options: string;
  state: 'mounted' | 'mounting' | 'missing';
  createdAtMs: number;
  memoryDirectory: string;
}

export function mountRecordToWire(entry: JournalEntry, mounted: boolean): Wire {
  return {
    id: entry.id,
    owner: entry.owner,
    backend: entry.backend,
    backend_reason: entry.backendReason,
    lowers: entry.lowers,
    upper: entry.upper ?? '',
    work: entry.work ?? '',
    target: entry.target,
    options: entry.options,
    state: mounted ? 'mounted' : entry.state === 'mounting' ? 'mounting' : 'missing',
    created_at_ms: entry.createdMs,
    memory_directory: entry.privateDir ?? '',
  };
}

export function mountRecordFromWire(wire: Wire): MountView {
  return {
    id: count(wire.id),
    owner: text(wire.owner),
    backend: text(wire.backend),
    backendReason: text(wire.backend_reason),
    lowers: Array.isArray(wire.lowers) ? wire.lowers.map(text) : [],
    upper: text(wire.upper),
    work: text(wire.work),
    target: text(wire.target),
    options: text(wire.options),
    state: text(wire.state) as MountView['state'],
    createdAtMs: count(wire.created_at_ms),
    memoryDirectory: text(wire.memory_directory),
  };
}

const checkToWire = (check: Check): Wire => ({ name: check.name, ok: check.ok, detail: check.detail, kernel_log: check.kernelLog });
const checkFromWire = (wire: Wire): Check => ({
  name: text(wire.name),
  ok: wire.ok === true,
  detail: text(wire.detail),
  kernelLog: Array.isArray(wire.kernel_log) ? wire.kernel_log.map(text) : [],
});

export function probeReportToWire(report: ProbeReport): Wire {
  return {
    directory: report.directory,
    device: report.device,
    filesystem: report.filesystem,
    filesystem_magic: report.filesystemMagic,
    kernel_release: report.kernelRelease,
    module_parameters: report.moduleParameters,
    upper_checks: report.upperChecks.map(checkToWire),
    mount_checks: report.mountChecks.map(checkToWire),
    fuse_overlayfs: checkToWire(report.fuseOverlayfs),
    probed_at_ms: report.probedAtMs,
    cached: report.cached,
  };
}

export function probeReportFromWire(wire: Wire): ProbeReport {
  const checks = (value: unknown) => (Array.isArray(value) ? (value as Wire[]).map(checkFromWire) : []);
  return {
    directory: text(wire.directory),
    device: count(wire.device),
    filesystem: text(wire.filesystem),
    filesystemMagic: count(wire.filesystem_magic),
    kernelRelease: text(wire.kernel_release),
    moduleParameters: (wire.module_parameters ?? {}) as Record<string, string>,
    upperChecks: checks(wire.upper_checks),
    mountChecks: checks(wire.mount_checks),
    fuseOverlayfs: checkFromWire((wire.fuse_overlayfs ?? {}) as Wire),
    probedAtMs: count(wire.probed_at_ms),
    cached: wire.cached === true,
  };
}
