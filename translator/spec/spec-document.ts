/**
 * config.json read the way the runtimes read it, and rewritten without
 * touching anything tsov does not change. Pure: text in, view and text out.
 *
 * runc (utils_linux.go loadSpec: json.NewDecoder(f).Decode(&spec)) and runsc
 * decode the spec with Go's encoding/json (decode.go), which
 *   - matches a key to a struct field case-insensitively, preferring an exact
 *     match, with bytes.EqualFold's folding ("Type", "TYPE" and "typeſ"... all
 *     reach the field `type`; U+017F ſ folds to s and U+212A K to k);
 *   - keeps 64-bit integers exactly (rlimits of 18446744073709551615);
 *   - accepts nesting up to 10000 levels;
 *   - stops after the first value (json.Decoder), ignoring what follows.
 * tsov reads keys the same way and never re-serializes what it did not
 * change: the translated text is the original with the changed mount entries
 * and the annotations member spliced in. What tsov cannot read the way the
 * runtime would is refused with one line, never guessed: trailing data
 * (runc would ignore it), two members that fold to one field ("mounts" and
 * "Mounts": Go merges or overwrites them), a top level that is not an object,
 * and mounts or annotations of a type Go would refuse.
 */
import { InvalidArgumentError } from '../../common/errors';
import { JsonScanError, scanJson, type JsonMember, type JsonNode } from './json-scan';
import type { OciMount, OciSpec } from './oci-spec';
import { goFoldKey } from './go-fold';
import { readUserNamespace } from './user-namespace';
import type { IdMapping } from '../../common/id-mapping';

export { goFoldKey };

/** Levels recorded: the document, its members' values (mounts, annotations), mount entries. */
const RECORD_DEPTH = 3;

/** The mount fields tsov reads, by their Go-folded names. */
const MOUNT_FIELDS = ['destination', 'type', 'source', 'options'] as const;

function membersNamed(node: JsonNode, name: string): JsonMember[] {
  return (node.members ?? []).filter((member) => goFoldKey(member.key) === name);
}

const KIND_NAMES: Record<string, string> = { object: 'an object', array: 'an array', string: 'a string', number: 'a number' };

function kindOf(text: string, node: JsonNode): string {
  if (node.kind !== 'literal') return KIND_NAMES[node.kind]!;
  return text.slice(node.start, node.end) === 'null' ? 'null' : 'a boolean';
}

function isNull(text: string, node: JsonNode): boolean {
  return node.kind === 'literal' && text.slice(node.start, node.end) === 'null';
}

export interface SpecDocument {
  /** The file's text, as read. */
  readonly text: string;
  /** What tsov reads: mounts (keys folded as Go does) and annotations. */
  readonly spec: OciSpec;
  /** Scan positions behind spec (for render). */
  readonly root: JsonNode;
  readonly mountNodes: readonly JsonNode[];
  /** The container's user namespace (linux.namespaces and its id mappings), if it has one. */
  readonly userNamespace?: IdMapping;
}

/** Parses config.json's text; throws InvalidArgumentError with one line that names the file and the problem. */
export function parseSpecDocument(text: string, file: string): SpecDocument {
  let root: JsonNode;
  try {
    root = scanJson(text, RECORD_DEPTH);
  } catch (error) {
    if (error instanceof JsonScanError) throw new InvalidArgumentError(`${file} is not valid JSON: ${error.message}`);
    throw error;
  }
  const problem = (what: string): never => {
    throw new InvalidArgumentError(`${file}: ${what}`);
  };
  if (root.kind !== 'object') problem(`the spec must be a JSON object, not ${kindOf(text, root)}`);
  const single = (name: string): JsonMember | undefined => {
    const found = membersNamed(root, name);
    if (found.length > 1) {
      problem(`${found.length} members are read by Go's encoding/json as "${name}" (${found.map((m) => JSON.stringify(m.key)).join(', ')}); runc would merge them: keep one`);
    }
    return found[0];
  };
  const spec: OciSpec = {};
  const mountNodes: JsonNode[] = [];
  const mounts = single('mounts');
  if (mounts !== undefined && !isNull(text, mounts.value)) {
    if (mounts.value.kind !== 'array') problem(`"${mounts.key}" must be an array of mounts, not ${kindOf(text, mounts.value)}`);
    spec.mounts = mounts.value.elements!.map((element, index) => {
      mountNodes.push(element);
      return readMount(text, element, index, problem);
    });
  }
  const annotations = single('annotations');
  if (annotations !== undefined && !isNull(text, annotations.value)) {
    if (annotations.value.kind !== 'object') problem(`"${annotations.key}" must be an object of strings, not ${kindOf(text, annotations.value)}; runc refuses such a spec too`);
    const values = JSON.parse(text.slice(annotations.value.start, annotations.value.end)) as Record<string, unknown>;
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'string') problem(`annotation ${JSON.stringify(key)} must be a string, not ${typeof value === 'object' ? (value === null ? 'null' : 'an object or array') : `a ${typeof value}`}`);
    }
    spec.annotations = values as Record<string, string>;
  }
  const linux = single('linux');
  const userNamespace = linux === undefined ? undefined : readUserNamespace(JSON.parse(text.slice(linux.value.start, linux.value.end)), problem);
  return { text, spec, root, mountNodes, ...(userNamespace === undefined ? {} : { userNamespace }) };
}

function readMount(text: string, node: JsonNode, index: number, problem: (what: string) => never): OciMount {
  const where = `mounts[${index}]`;
  // Go decodes null into an empty Mount; the entry is kept as written.
  if (isNull(text, node)) return { destination: '' };
  if (node.kind !== 'object') problem(`${where} must be an object, not ${kindOf(text, node)}`);
  const mount: Record<string, unknown> = {};
  const seen = new Map<string, string>();
  for (const member of node.members!) {
    const folded = goFoldKey(member.key);
    const field = MOUNT_FIELDS.find((name) => name === folded);
    const value: unknown = JSON.parse(text.slice(member.value.start, member.value.end));
    if (field === undefined) {
      mount[member.key] = value;
      continue;
    }
    const earlier = seen.get(field);
    if (earlier !== undefined) problem(`${where} has both ${JSON.stringify(earlier)} and ${JSON.stringify(member.key)}, which Go reads as one field "${field}"; keep one`);
    seen.set(field, member.key);
    if (value === null) continue;
    if (field === 'options') {
      if (!Array.isArray(value) || value.some((option) => typeof option !== 'string')) problem(`${where}.${member.key} must be an array of strings`);
    } else if (typeof value !== 'string') {
      problem(`${where}.${member.key} must be a string`);
    }
    mount[field] = value;
  }
  return mount as OciMount;
}

/** One mount entry's new text: tsov's fields from the translation, every other member as originally written. */
function renderMount(text: string, mount: OciMount, original: JsonNode | undefined): string {
  const written = new Map((original?.members ?? []).map((member) => [member.key, text.slice(member.value.start, member.value.end)]));
  const members = Object.entries(mount).map(([key, value]) => {
    const known = (MOUNT_FIELDS as readonly string[]).includes(key);
    return `${JSON.stringify(key)}:${!known && written.has(key) ? written.get(key)! : JSON.stringify(value)}`;
  });
  return `{${members.join(',')}}`;
}

/**
 * The translated spec's text: the original with the mounts array rebuilt
 * (unchanged entries copied byte for byte) and the annotations replaced or
 * added. Returns the original text when nothing changed.
 */
export function renderSpecDocument(document: SpecDocument, translated: OciSpec): string {
  const { text, spec, root, mountNodes } = document;
  const edits: Array<{ start: number; end: number; text: string }> = [];
  const mountsMember = membersNamed(root, 'mounts')[0];
  const before = spec.mounts ?? [];
  const after = translated.mounts ?? [];
  if (after.length !== before.length || after.some((mount, i) => mount !== before[i])) {
    if (mountsMember === undefined || mountsMember.value.kind !== 'array') throw new Error('renderSpecDocument: the translation added mounts to a spec without a mounts array');
    const entries = after.map((mount, i) => (mount === before[i] ? text.slice(mountNodes[i]!.start, mountNodes[i]!.end) : renderMount(text, mount, mountNodes[i])));
    edits.push({ start: mountsMember.value.start, end: mountsMember.value.end, text: `[${entries.join(',')}]` });
  }
  if (translated.annotations !== spec.annotations && translated.annotations !== undefined) {
    const annotationsText = JSON.stringify(translated.annotations);
    const member = membersNamed(root, 'annotations')[0];
    if (member !== undefined) {
      edits.push({ start: member.value.start, end: member.value.end, text: annotationsText });
    } else {
      const last = (root.members ?? []).at(-1);
      const at = last === undefined ? root.end - 1 : last.value.end;
      edits.push({ start: at, end: at, text: `${last === undefined ? '' : ','}"annotations":${annotationsText}` });
    }
  }
  let result = text;
  for (const edit of edits.sort((a, b) => b.start - a.start)) result = result.slice(0, edit.start) + edit.text + result.slice(edit.end);
  return result;
}
