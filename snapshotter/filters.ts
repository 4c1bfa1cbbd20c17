/**
 * containerd's filter grammar (github.com/containerd/containerd/filters), as
 * the List RPC receives it:
 *
 *   selectors := selector ("," selector)*        all must match
 *   selector  := fieldpath [operator value]      no operator: the field is present
 *   fieldpath := field ("." field)*
 *   field     := quoted | [A-Za-z0-9_]+
 *   operator  := "==" | "!=" | "~="
 *   value     := quoted | [^\s,]+
 *   quoted    := "..." with Go escapes; /.../ and |...| also allowed for ~= values
 *
 * Several filter strings are ORed. Pure: parse once, match many.
 */
import { InvalidArgumentError } from '../common/errors';
import type { SnapshotInfo } from './snapshot-model';

export type Operator = 'present' | '==' | '!=' | '~=';

export interface Selector {
  fieldpath: string[];
  operator: Operator;
  value: string;
  /** Compiled for ~=. */
  regex?: RegExp;
}

/** One filter string: all of its selectors must match. */
export type Filter = Selector[];

/** The object a filter is matched against: a field path gives a value or nothing. */
export type FieldAdaptor = (fieldpath: readonly string[]) => string | undefined;

const QUOTE_CHARS = new Set(['"', '/', '|']);
const OPERATOR_CHARS = new Set(['=', '!', '~']);

function isFieldChar(ch: string): boolean {
  return /^[A-Za-z0-9_]$/.test(ch);
}

function isSpace(ch: string): boolean {
  return /^\s$/u.test(ch);
}

class FilterSyntaxError extends InvalidArgumentError {
  constructor(input: string, pos: number, reason: string) {
    const marked = pos < input.length ? `${input.slice(0, pos)} >|${input.slice(pos, pos + 1)}|< ${input.slice(pos + 1)}` : input;
    super(`invalid filter [${marked}]: ${reason}; see containerd's filter syntax, e.g. labels."containerd.io/gc.root"==v,kind==committed`);
  }
}

class FilterParser {
  private pos = 0;

  constructor(private readonly input: string) {}

  parse(): Filter {
    const selectors: Filter = [this.selector()];
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) return selectors;
      if (this.input[this.pos] !== ',') throw this.error(`unexpected input ${JSON.stringify(this.input[this.pos])}`);
      this.pos++;
      selectors.push(this.selector());
    }
  }

  private selector(): Selector {
    const fieldpath = [this.field()];
    for (;;) {
      this.skipSpace();
      if (this.input[this.pos] !== '.') break;
      this.pos++;
      fieldpath.push(this.field());
    }
    this.skipSpace();
    if (this.atEnd() || this.input[this.pos] === ',') {
      return { fieldpath, operator: 'present', value: '' };
    }
    const operator = this.operator();
    const value = this.value(operator === '~=');
    if (operator === '~=') {
      return { fieldpath, operator, value, regex: this.compile(value) };
    }
    return { fieldpath, operator, value };
  }

  private field(): string {
    this.skipSpace();
    const start = this.pos;
    const ch = this.input[this.pos];
    if (ch === '"') return this.quoted('"');
    if (ch !== undefined && isFieldChar(ch)) {
      while (!this.atEnd() && isFieldChar(this.input[this.pos]!)) this.pos++;
      return this.input.slice(start, this.pos);
    }
    throw this.error('expected field or quoted');
  }

  private operator(): Operator {
    const start = this.pos;
    while (!this.atEnd() && OPERATOR_CHARS.has(this.input[this.pos]!)) this.pos++;
    const op = this.input.slice(start, this.pos);
    if (op === '==' || op === '!=' || op === '~=') return op;
    this.pos = start;
    throw this.error(op === '' ? 'expected an operator ("=="|"!="|"~=")' : `unsupported operator ${JSON.stringify(op)}`);
  }

  private value(allowAltQuotes: boolean): string {
    this.skipSpace();
    const ch = this.input[this.pos];
    if (ch === undefined) throw this.error('expected value or quoted');
    if (QUOTE_CHARS.has(ch)) {
      if (ch !== '"' && !allowAltQuotes) throw this.error('invalid quote encountered');
      return this.quoted(ch);
    }
    const start = this.pos;
    while (!this.atEnd() && this.input[this.pos] !== ',' && !isSpace(this.input[this.pos]!)) this.pos++;
    if (this.pos === start) throw this.error('expected value or quoted');
    return this.input.slice(start, this.pos);
  }

  /** A quoted literal with Go's escapes; the opening quote is at pos. */
  private quoted(quote: string): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    for (;;) {
      const ch = this.input[this.pos];
      if (ch === undefined || ch === '\n') {
        this.pos = start;
        throw this.error('quoted literal not terminated');
      }
      this.pos++;
      if (ch === quote) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      out += this.escape(quote);
    }
  }

  private escape(quote: string): string {
    const ch = this.input[this.pos];
    this.pos++;
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
    if (ch !== undefined && ch in simple) return simple[ch]!;
    if (ch === quote) return quote;
    // In a regex the backslash belongs to the pattern: /a\.b/ means a\.b.
    if (quote === '/' || quote === '|') return `\\${ch ?? ''}`;
    const digits: Record<string, [number, number]> = { x: [16, 2], u: [16, 4], U: [16, 8] };
    if (ch !== undefined && ch in digits) {
      const [base, count] = digits[ch]!;
      return this.numericEscape(base, count);
    }
    if (ch !== undefined && ch >= '0' && ch <= '7') {
      this.pos--;
      return this.numericEscape(8, 3);
    }
    throw this.error('illegal escape sequence');
  }

  private numericEscape(base: number, count: number): string {
    const text = this.input.slice(this.pos, this.pos + count);
    const valid = base === 8 ? /^[0-7]+$/ : /^[0-9a-fA-F]+$/;
    if (text.length !== count || !valid.test(text)) throw this.error('illegal numeric escape sequence');
    this.pos += count;
    return String.fromCodePoint(parseInt(text, base));
  }

  private compile(pattern: string): RegExp {
    try {
      return new RegExp(pattern, 'u');
    } catch (error) {
      throw this.error(`invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`);
    }
  }

  private skipSpace(): void {
    while (!this.atEnd() && isSpace(this.input[this.pos]!)) this.pos++;
  }

  private atEnd(): boolean {
    return this.pos >= this.input.length;
  }

  private error(reason: string): FilterSyntaxError {
    return new FilterSyntaxError(this.input, this.pos, reason);
  }
}

/** Parses one filter string; the empty string matches everything. */
export function parseFilter(input: string): Filter {
  if (input === '') return [];
  if (input.includes('\0')) throw new InvalidArgumentError('invalid filter: it contains a NUL byte');
  return new FilterParser(input).parse();
}

/** Parses the List request's filters: any one of them matching is enough. */
export function parseFilters(inputs: readonly string[]): Filter[] {
  return inputs.map(parseFilter);
}

function matchSelector(selector: Selector, field: FieldAdaptor): boolean {
  const value = field(selector.fieldpath);
  switch (selector.operator) {
    case 'present':
      return value !== undefined;
    case '==':
      return value !== undefined && value === selector.value;
    case '!=':
      return (value ?? '') !== selector.value;
    case '~=':
      return selector.regex!.test(value ?? '');
  }
}

export function matchFilters(filters: readonly Filter[], field: FieldAdaptor): boolean {
  if (filters.length === 0) return true;
  return filters.some((filter) => filter.every((selector) => matchSelector(selector, field)));
}

/** containerd's snapshot field adaptor: kind, name, parent, labels.<key>. */
export function snapshotFieldAdaptor(info: SnapshotInfo): FieldAdaptor {
  return (fieldpath) => {
    switch (fieldpath[0]) {
      case 'kind':
        return info.kind;
      case 'name':
        return info.name;
      case 'parent':
        return info.parent;
      case 'labels': {
        const key = fieldpath.slice(1).join('.');
        return Object.prototype.hasOwnProperty.call(info.labels, key) ? info.labels[key] : undefined;
      }
      default:
        return undefined;
    }
  };
}
