/**
 * A JSON reader that keeps positions instead of values: it checks a whole
 * document (RFC 8259, as Go's encoding/json accepts it) without recursion, so
 * nesting as deep as Go allows cannot overflow the stack, and records where
 * each value of the first few levels starts and ends, so that a caller can
 * replace some values and keep every other byte — numbers above 2^53
 * included — exactly as written. Pure.
 */

/** Go's encoding/json refuses deeper nesting ("exceeded max depth"; scanner.go maxNestingDepth). */
export const MAX_JSON_DEPTH = 10_000;

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'literal';

export interface JsonNode {
  kind: JsonKind;
  /** [start, end) in the text. */
  start: number;
  end: number;
  /** Object members, for objects at a recorded depth. */
  members?: JsonMember[];
  /** Array elements, for arrays at a recorded depth. */
  elements?: JsonNode[];
}

export interface JsonMember {
  /** The key, decoded. */
  key: string;
  keyStart: number;
  value: JsonNode;
}

export class JsonScanError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;
const WHITESPACE = /[ \t\n\r]*/y;

function matchAt(pattern: RegExp, text: string, at: number): number | undefined {
  pattern.lastIndex = at;
  return pattern.test(text) ? pattern.lastIndex : undefined;
}

function skipWhitespace(text: string, at: number): number {
  return matchAt(WHITESPACE, text, at)!;
}

function describeAt(text: string, at: number): string {
  if (at >= text.length) return 'the end of the document';
  return `${JSON.stringify(text.slice(at, at + 12))} at offset ${at}`;
}

interface Frame {
  node: JsonNode;
  state: 'key' | 'value' | 'after-value';
  first: boolean;
  record: boolean;
  key?: string;
  keyStart?: number;
}

/**
 * Scans one JSON value that must fill the text (whitespace aside). Containers
 * up to recordDepth levels deep (the document's own value is level 1) get
 * their members or elements recorded.
 */
export function scanJson(text: string, recordDepth: number): JsonNode {
  const stack: Frame[] = [];
  let at = 0;
  let root: JsonNode | undefined;
  const fail = (what: string, where: number): never => {
    throw new JsonScanError(`${what} at ${describeAt(text, where)}`, where);
  };
  const attach = (node: JsonNode) => {
    const top = stack.at(-1);
    if (top === undefined) {
      root = node;
      return;
    }
    if (top.record) {
      if (top.node.kind === 'object') top.node.members!.push({ key: top.key!, keyStart: top.keyStart!, value: node });
      else top.node.elements!.push(node);
    }
    top.state = 'after-value';
  };
  const close = (top: Frame) => {
    at++;
    top.node.end = at;
    stack.pop();
    attach(top.node);
  };

  while (root === undefined) {
    at = skipWhitespace(text, at);
    const top = stack.at(-1);
    const ch = text[at];
    if (top !== undefined && top.state === 'after-value') {
      const closer = top.node.kind === 'object' ? '}' : ']';
      if (ch === ',') {
        at++;
        top.state = top.node.kind === 'object' ? 'key' : 'value';
      } else if (ch === closer) {
        close(top);
      } else {
        fail(`expected ',' or '${closer}'`, at);
      }
      continue;
    }
    if (top !== undefined && top.first && ((top.node.kind === 'object' && ch === '}') || (top.node.kind === 'array' && ch === ']'))) {
      close(top);
      continue;
    }
    if (top !== undefined && top.state === 'key') {
      const end = matchAt(STRING, text, at) ?? fail('expected a string key', at);
      top.key = JSON.parse(text.slice(at, end)) as string;
      top.keyStart = at;
      at = skipWhitespace(text, end);
      if (text[at] !== ':') fail("expected ':'", at);
      at++;
      top.state = 'value';
      top.first = false;
      continue;
    }
    if (top !== undefined) top.first = false;
    if (ch === '{' || ch === '[') {
      const depth = stack.length + 1;
      if (depth > MAX_JSON_DEPTH) fail(`nesting deeper than ${MAX_JSON_DEPTH} levels (Go's encoding/json refuses it too)`, at);
      const record = depth <= recordDepth;
      const node: JsonNode = { kind: ch === '{' ? 'object' : 'array', start: at, end: -1 };
      if (record && ch === '{') node.members = [];
      if (record && ch === '[') node.elements = [];
      stack.push({ node, state: ch === '{' ? 'key' : 'value', first: true, record });
      at++;
      continue;
    }
    const scalar: Array<[RegExp, JsonKind]> = [
      [STRING, 'string'],
      [NUMBER, 'number'],
      [LITERAL, 'literal'],
    ];
    const found = scalar.map(([pattern, kind]) => [matchAt(pattern, text, at), kind] as const).find(([end]) => end !== undefined);
    if (found === undefined) fail('expected a JSON value', at);
    const [end, kind] = found!;
    attach({ kind, start: at, end: end! });
    at = end!;
  }
  const rest = skipWhitespace(text, at);
  if (rest < text.length) fail('unexpected data after the JSON value', rest);
  return root;
}
