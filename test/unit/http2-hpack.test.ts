/**
 * HPACK (common/http2/hpack.ts, huffman.ts) against RFC 7541's own examples
 * (Appendix C.3 and C.4: three requests on one connection, without and with
 * Huffman coding) and against the encoder grpc-go uses,
 * golang.org/x/net/http2/hpack (test/support/go/hpack-oracle): random header
 * lists on one encoder, so blocks refer to the dynamic table earlier blocks
 * filled, with table size updates, evictions, never-indexed fields and
 * arbitrary octets in values.
 */
import { execFileSync } from 'node:child_process';
import test from 'ava';
import { CompressionError, encodeHeaderBlock, HpackDecoder, type HeaderField } from '../../common/http2/hpack';
import { buildHpackOracle } from '../support/go-harness';
import { Random, testSeed } from '../support/random';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const LIMIT = 64 * 1024;

const RFC_REQUESTS: ReadonlyArray<readonly HeaderField[]> = [
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ],
  [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ],
];

const RFC_BLOCKS: Array<[string, string[]]> = [
  [
    'RFC 7541 C.3: three requests without Huffman coding, the later ones from the dynamic table',
    ['8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', '8286 84be 5808 6e6f 2d63 6163 6865', '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'],
  ],
  [
    'RFC 7541 C.4: the same requests with Huffman coding',
    ['8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', '8286 84be 5886 a8eb 1064 9cbf', '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'],
  ],
];

for (const [title, blocks] of RFC_BLOCKS) {
  test(title, (t) => {
    const decoder = new HpackDecoder();
    blocks.forEach((block, i) => t.deepEqual(decoder.decode(hex(block), LIMIT), RFC_REQUESTS[i]));
  });
}

interface OracleBlock {
  maxTableSize?: number;
  fields: Array<[string, string]>;
  sensitive: boolean[];
}

function randomText(random: Random, alphabet: string, maxLength: number): string {
  let text = '';
  const length = random.int(maxLength + 1);
  for (let i = 0; i < length; i++) text += alphabet[random.int(alphabet.length)]!;
  return text;
}

function randomBlocks(random: Random, count: number): OracleBlock[] {
  const names = [':method', ':path', ':authority', 'content-type', 'te', 'user-agent', 'grpc-timeout', 'containerd-namespace', 'x-custom'];
  const nameAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_';
  // Every octet but NUL, as a JS string of code points 1..255 (sent to Go as UTF-8).
  const valueAlphabet = Array.from({ length: 255 }, (_, i) => String.fromCharCode(i + 1)).join('');
  return Array.from({ length: count }, (_, b) => {
    const fields: Array<[string, string]> = [];
    const sensitive: boolean[] = [];
    for (let f = random.int(12); f >= 0; f--) {
      const name = random.chance(0.6) ? names[random.int(names.length)]! : randomText(random, nameAlphabet, 20) || 'x';
      // Repeated values (indexed fields), typical text, any octets, and now and then one larger than the table.
      const value = random.chance(0.3) ? 'application/grpc' : random.chance(0.5) ? randomText(random, 'abc/.-_0123456789', 60) : random.chance(0.9) ? randomText(random, valueAlphabet, 40) : 'v'.repeat(5000);
      fields.push([name, value]);
      sensitive.push(random.chance(0.1));
    }
    const block: OracleBlock = { fields, sensitive };
    if (b > 0 && random.chance(0.05)) block.maxTableSize = [0, 64, 256, 4096][random.int(4)]!;
    return block;
  });
}

test('random header lists encoded by grpc-go\'s HPACK encoder (golang.org/x/net/http2/hpack) decode to what was encoded', (t) => {
  const seed = testSeed(7541);
  const random = new Random(seed);
  const blocks = randomBlocks(random, 400);
  const oracle = buildHpackOracle();
  const output = execFileSync(oracle, { input: blocks.map((b) => JSON.stringify(b)).join('\n') + '\n', maxBuffer: 64 << 20 }).toString().trim().split('\n');
  t.is(output.length, blocks.length);
  const decoder = new HpackDecoder();
  let indexed = 0;
  blocks.forEach((block, i) => {
    const bytes = Buffer.from(output[i]!, 'hex');
    for (const byte of bytes) if (byte & 0x80) indexed++;
    // What Go received is the UTF-8 of the JS string; HPACK strings are octets, decoded as latin1.
    const expected = block.fields.map(([name, value]) => [Buffer.from(name, 'utf8').toString('latin1'), Buffer.from(value, 'utf8').toString('latin1')]);
    t.deepEqual(decoder.decode(bytes, 1 << 20), expected, `block ${i} (seed ${seed})`);
  });
  t.true(indexed > 100, `the blocks used the tables (${indexed} indexed fields)`);
});

test('a header list over the limit is refused (undefined) but still decoded: the dynamic table stays the client\'s', (t) => {
  const decoder = new HpackDecoder();
  // Literal with incremental indexing, new name "big", a 100-octet value; then a block indexing it (62).
  const value = 'a'.repeat(100);
  const first = Buffer.concat([Buffer.from([0x40, 3]), Buffer.from('big'), Buffer.from([100]), Buffer.from(value)]);
  t.is(decoder.decode(first, 50), undefined);
  t.deepEqual(decoder.decode(Buffer.from([0xbe]), LIMIT), [['big', value]]);
});

const malformed: Array<[string, Buffer]> = [
  ['indexed field 0', Buffer.from([0x80])],
  ['an index past the tables', Buffer.from([0xbe])],
  ['an integer cut short', Buffer.from([0xff])],
  ['an integer too large', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])],
  ['a string past the end of the block', Buffer.from([0x40, 0x05, 0x61])],
  ['Huffman padding of zeros', Buffer.from([0x40, 0x81, 0x00, 0x00])],
  ['Huffman padding of 8 bits or more', Buffer.from([0x00, 0x82, 0x1f, 0xff, 0x00])],
  ['EOS inside a Huffman string', Buffer.from([0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00])],
  ['a table size update above the advertised 4096', Buffer.from([0x3f, 0xe2, 0x1f])],
  ['a table size update after a field', Buffer.from([0x82, 0x20])],
];

for (const [what, block] of malformed) {
  test(`malformed header block: ${what} is a CompressionError`, (t) => {
    t.throws(() => new HpackDecoder().decode(block, LIMIT), { instanceOf: CompressionError });
  });
}

test('encodeHeaderBlock: :status 200 indexed, other fields literals without indexing that any decoder reads back, long ones too', (t) => {
  const fields: HeaderField[] = [
    [':status', '200'],
    ['content-type', 'application/grpc'],
    ['grpc-status', '5'],
    ['grpc-message', `snapshot ${'%22'.repeat(100)} does not exist`],
  ];
  const block = encodeHeaderBlock(fields);
  t.is(block[0], 0x88);
  const decoder = new HpackDecoder();
  t.deepEqual(decoder.decode(block, LIMIT), fields);
  // Nothing was added to the table: a block of one literal leaves index 62 unknown.
  t.throws(() => decoder.decode(Buffer.from([0xbe]), LIMIT), { instanceOf: CompressionError });
});
