/**
 * HPACK (RFC 7541) as a gRPC server needs it: a decoder for the header blocks
 * clients send (indexed fields, literals with or without indexing, Huffman
 * strings, a dynamic table with size updates and eviction), and an encoder
 * for the few fields a reply carries, which uses only literals without
 * indexing and never Huffman: the encoder keeps no state, so the client's
 * decoder table never depends on it.
 */
import { decodeHuffman, HuffmanError } from './huffman';

export type HeaderField = readonly [name: string, value: string];

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly HeaderField[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** A header block that cannot be decoded: a connection error (COMPRESSION_ERROR). */
export class CompressionError extends Error {}

/** RFC 7541 4.1: an entry's size is its name's and value's octets plus 32. */
function entrySize([name, value]: HeaderField): number {
  return name.length + value.length + 32;
}

export class HpackDecoder {
  /** Newest first (dynamic index 62 is entries[0]). */
  private readonly entries: HeaderField[] = [];
  private size = 0;
  private maxSize: number;

  /** @param limit SETTINGS_HEADER_TABLE_SIZE as this side advertised it (the most a size update may ask for) */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /**
   * The fields of one complete header block, in order; undefined if they are
   * more than maxListSize octets (RFC 7540 6.5.2's measure): the whole block
   * is still decoded, so the dynamic table stays the one the client has.
   */
  decode(block: Uint8Array, maxListSize: number): HeaderField[] | undefined {
    const fields: HeaderField[] = [];
    let listSize = 0;
    const reader = { block, at: 0 };
    let fieldSeen = false;
    while (reader.at < block.length) {
      const first = block[reader.at]!;
      let field: HeaderField | undefined;
      if (first & 0x80) {
        field = this.field(readInteger(reader, 7));
        if (field === undefined) throw new CompressionError('indexed header field 0');
      } else if (first & 0x40) {
        field = this.literal(reader, 6);
        this.add(field);
      } else if (first & 0x20) {
        // Dynamic table size update: only at the start of a block (RFC 7541 4.2).
        if (fieldSeen) throw new CompressionError('a dynamic table size update after a header field');
        const size = readInteger(reader, 5);
        if (size > this.limit) throw new CompressionError(`dynamic table size update to ${size} above the advertised ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): both 4-bit prefixes.
        field = this.literal(reader, 4);
      }
      fieldSeen = true;
      listSize += entrySize(field);
      fields.push(field);
    }
    return listSize > maxListSize ? undefined : fields;
  }

  private field(index: number): HeaderField | undefined {
    if (index === 0) return undefined;
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1];
    const entry = this.entries[index - STATIC_TABLE.length - 1];
    if (entry === undefined) throw new CompressionError(`header table index ${index} is not in the table`);
    return entry;
  }

  private literal(reader: Reader, prefixBits: number): HeaderField {
    const nameIndex = readInteger(reader, prefixBits);
    const name = nameIndex === 0 ? readString(reader) : this.field(nameIndex)![0];
    return [name, readString(reader)];
  }

  private add(field: HeaderField): void {
    const size = entrySize(field);
    // RFC 7541 4.4: an entry larger than the table empties it and is not added.
    this.evict(size);
    if (size > this.maxSize) return;
    this.entries.unshift(field);
    this.size += size;
  }

  /** Evicts the oldest entries until room more octets fit. */
  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      this.size -= entrySize(this.entries.pop()!);
    }
  }
}

interface Reader {
  block: Uint8Array;
  at: number;
}

/** RFC 7541 5.1. */
function readInteger(reader: Reader, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (reader.at >= reader.block.length) throw new CompressionError('header block ends inside an integer');
  let value = reader.block[reader.at++]! & max;
  if (value < max) return value;
  for (let shift = 0; ; shift += 7) {
    if (shift > 28) throw new CompressionError('integer too large in a header block');
    if (reader.at >= reader.block.length) throw new CompressionError('header block ends inside an integer');
    const byte = reader.block[reader.at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return value;
  }
}

/** RFC 7541 5.2; strings are octets (latin1), as header names and values are on the wire. */
function readString(reader: Reader): string {
  if (reader.at >= reader.block.length) throw new CompressionError('header block ends before a string');
  const huffman = (reader.block[reader.at]! & 0x80) !== 0;
  const length = readInteger(reader, 7);
  if (reader.at + length > reader.block.length) throw new CompressionError('a string runs past the end of its header block');
  const bytes = reader.block.subarray(reader.at, reader.at + length);
  reader.at += length;
  if (!huffman) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  try {
    return decodeHuffman(bytes);
  } catch (error) {
    if (error instanceof HuffmanError) throw new CompressionError(error.message);
    throw error;
  }
}

function writeInteger(out: number[], value: number, prefixBits: number, pattern: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(pattern | value);
    return;
  }
  out.push(pattern | max);
  let rest = value - max;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

/**
 * A header block of literals without indexing (new names) — ':status: 200'
 * as the static table's index 8. Names and values must be octet strings the
 * caller built (no CR, LF or NUL; see grpc-wire.ts's percent-encoding).
 */
export function encodeHeaderBlock(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    if (name === ':status' && value === '200') {
      out.push(0x88);
      continue;
    }
    out.push(0x00);
    for (const text of [name, value]) {
      const bytes = Buffer.from(text, 'latin1');
      writeInteger(out, bytes.length, 7, 0x00);
      for (const byte of bytes) out.push(byte);
    }
  }
  return Buffer.from(out);
}
