/**
 * The container's user namespace as the runtime reads it from config.json:
 * a `user` entry in linux.namespaces, and the ranges of linux.uidMappings and
 * linux.gidMappings (runtime-spec config-linux.md; Go's LinuxIDMapping is
 * three uint32 fields containerID, hostID, size, matched case-insensitively
 * as encoding/json does). Pure: the parsed `linux` value in, the mapping out.
 *
 * tsov-helper needs the mapping to idmap an overlay's lowers for such a
 * container. A namespace joined by path (a Kubernetes pod's) still comes with
 * its mappings from containerd (CRI WithUserNamespace); a spec without them
 * is refused, never guessed.
 */
import { INVALID_ID, type IdMapping, type IdMapRange } from '../../common/id-mapping';
import { goFoldKey } from './go-fold';

type Problem = (what: string) => never;

/** The member of an object whose key Go folds to name; two such members are refused (Go would merge them). */
function member(object: Record<string, unknown>, name: string, where: string, problem: Problem): unknown {
  const keys = Object.keys(object).filter((key) => goFoldKey(key) === name);
  if (keys.length > 1) problem(`${where} has ${keys.map((k) => JSON.stringify(k)).join(' and ')}, which Go reads as one field "${name}"; keep one`);
  return keys.length === 0 ? undefined : object[keys[0]!];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function uint32(value: unknown, where: string, problem: Problem): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INVALID_ID) problem(`${where} must be a whole number from 0 to ${INVALID_ID} (Go's uint32)`);
  return value as number;
}

function readRanges(value: unknown, where: string, problem: Problem): IdMapRange[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) problem(`${where} must be an array of id mappings`);
  return (value as unknown[]).map((element, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(element)) problem(`${at} must be an object with containerID, hostID and size`);
    const range = element as Record<string, unknown>;
    return {
      containerId: uint32(member(range, 'containerid', at, problem), `${at}.containerID`, problem),
      hostId: uint32(member(range, 'hostid', at, problem), `${at}.hostID`, problem),
      size: uint32(member(range, 'size', at, problem), `${at}.size`, problem),
    };
  });
}

function hasUserNamespace(namespaces: unknown, problem: Problem): boolean {
  if (namespaces === undefined || namespaces === null) return false;
  if (!Array.isArray(namespaces)) problem('linux.namespaces must be an array');
  return (namespaces as unknown[]).some((entry, i) => isObject(entry) && member(entry, 'type', `linux.namespaces[${i}]`, problem) === 'user');
}

/** The mapping of a user-namespaced container; undefined when the spec has no user namespace. */
export function readUserNamespace(linux: unknown, problem: Problem): IdMapping | undefined {
  if (linux === undefined || linux === null) return undefined;
  if (!isObject(linux)) problem('linux must be an object');
  const section = linux as Record<string, unknown>;
  if (!hasUserNamespace(member(section, 'namespaces', 'linux', problem), problem)) return undefined;
  const uid = readRanges(member(section, 'uidmappings', 'linux', problem), 'linux.uidMappings', problem);
  const gid = readRanges(member(section, 'gidmappings', 'linux', problem), 'linux.gidMappings', problem);
  if (uid.length === 0 || gid.length === 0) {
    problem('linux.namespaces has a user namespace but linux.uidMappings or linux.gidMappings is empty; tsov needs both to idmap overlay layers for the container');
  }
  return { uid, gid };
}
