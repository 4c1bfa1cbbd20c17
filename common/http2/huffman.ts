/**
 * HPACK's Huffman code (RFC 7541, section 5.2 and Appendix B), for decoding
 * the string literals a client sends Huffman-coded (grpc-go and nghttp2 do
 * whenever it is shorter). The code is canonical: Appendix B's codes are
 * exactly those assigned in order of (length, symbol), so the lengths below
 * (Appendix B's "len in bits" column, symbols 0–255 and EOS = 256) define it.
 */

const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** A binary trie over the code: child[2 * node + bit] is a node, or ~symbol for a leaf. */
function buildTrie(): Int32Array {
  const symbols = CODE_LENGTHS.map((length, symbol) => ({ length, symbol })).sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const child = new Int32Array(2 * 2 * symbols.length).fill(0);
  let nodes = 1;
  let code = 0;
  let previous = symbols[0]!.length;
  symbols.forEach(({ length, symbol }, i) => {
    if (i > 0) code = (code + 1) << (length - previous);
    previous = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) {
        child[slot] = ~symbol;
      } else {
        if (child[slot] === 0) child[slot] = nodes++;
        node = child[slot]!;
      }
    }
  });
  return child;
}

const TRIE = buildTrie();

export class HuffmanError extends Error {}

/** Decodes a Huffman-coded string literal (as latin1: HPACK strings are octets). */
export function decodeHuffman(bytes: Uint8Array): string {
  const out: number[] = [];
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      const next = TRIE[2 * node + b]!;
      depth++;
      allOnes &&= b === 1;
      if (next < 0) {
        const symbol = ~next;
        if (symbol === EOS) throw new HuffmanError('a Huffman-coded string contains EOS');
        out.push(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HuffmanError('invalid Huffman code');
      } else {
        node = next;
      }
    }
  }
  // RFC 7541 5.2: padding is the most significant bits of EOS (all ones), shorter than 8 bits.
  if (depth > 7 || !allOnes) throw new HuffmanError('invalid Huffman padding');
  return Buffer.from(out).toString('latin1');
}
