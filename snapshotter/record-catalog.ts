/**
 * Every snapshot record in memory, by id and by name: the store answers
 * reads (Stat, Mounts, the checks of Prepare and Commit, List) from here
 * instead of SQL, and puts each record it writes back here. Records are never
 * mutated: a change replaces the object, so callers may cache by identity.
 * No I/O.
 */
import type { SnapshotRecord } from './snapshot-model';

export class RecordCatalog {
  private readonly byId = new Map<number, SnapshotRecord>();
  private readonly byName = new Map<string, SnapshotRecord>();
  /** How many records name each id as their parent (Remove refuses a parent). */
  private readonly children = new Map<number, number>();
  /** all(), kept until the next change. */
  private ordered: SnapshotRecord[] | undefined;

  constructor(records: Iterable<SnapshotRecord> = []) {
    for (const record of records) this.put(record);
  }

  get(name: string): SnapshotRecord | undefined {
    return this.byName.get(name);
  }

  getById(id: number): SnapshotRecord | undefined {
    return this.byId.get(id);
  }

  hasChildren(id: number): boolean {
    return this.children.has(id);
  }

  /** The ids of id's ancestors, nearest first (empty for a snapshot without a parent, or an unknown id). */
  parentIds(id: number): number[] {
    const chain: number[] = [];
    for (let parent = this.byId.get(id)?.parentId ?? null; parent !== null; parent = this.byId.get(parent)?.parentId ?? null) {
      if (chain.length > this.byId.size) throw new Error(`the parent chain of snapshot ${id} has a cycle`);
      chain.push(parent);
    }
    return chain;
  }

  /** Adds a record or replaces the one with its id (whose name may have changed). */
  put(record: SnapshotRecord): void {
    this.delete(record.id);
    this.byId.set(record.id, record);
    this.byName.set(record.name, record);
    if (record.parentId !== null) this.children.set(record.parentId, (this.children.get(record.parentId) ?? 0) + 1);
    this.ordered = undefined;
  }

  delete(id: number): void {
    const old = this.byId.get(id);
    if (old === undefined) return;
    this.byId.delete(id);
    if (this.byName.get(old.name) === old) this.byName.delete(old.name);
    if (old.parentId !== null) {
      const left = this.children.get(old.parentId)! - 1;
      if (left === 0) this.children.delete(old.parentId);
      else this.children.set(old.parentId, left);
    }
    this.ordered = undefined;
  }

  /** Every record, in id order (ids are reserved in order but may be recorded out of order). */
  all(): readonly SnapshotRecord[] {
    this.ordered ??= [...this.byId.values()].sort((a, b) => a.id - b.id);
    return this.ordered;
  }

  ids(): Set<number> {
    return new Set(this.byId.keys());
  }
}
