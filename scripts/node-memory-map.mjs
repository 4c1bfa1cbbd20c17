#!/usr/bin/env node
/**
 * node scripts/node-memory-map.mjs PID [PID...]
 *
 * Where a Node process's resident memory is: its mappings summed by kind
 * (the node binary, V8's heap pages, malloc, other libraries), and the node
 * binary's resident pages by section and, in .text, by the component their
 * code belongs to (from the binary's symbol table: TurboFan, V8's runtime,
 * node, OpenSSL, ICU...). Reads /proc/PID/smaps and /proc/PID/pagemap (root)
 * and `nm -n` of the binary once. Run it on tsov-snapshotter and on a bare
 * `node -e 'setTimeout(()=>{},1e6)'` side by side: the difference is what
 * tsov's modules made resident (bench/HISTORY.md, idle RSS).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const PAGE = 4096;

function mappings(pid) {
  const rows = [];
  let current;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      current = { start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), name: head[3].trim(), rssKiB: 0 };
      rows.push(current);
    } else if (line.startsWith('Rss:') && current) current.rssKiB = Number(line.split(/\s+/)[1]);
  }
  return rows;
}

function kind(mapping) {
  if (mapping.name === '') return mapping.end - mapping.start === 262144n ? "V8 heap pages (256 KiB)" : 'anonymous, other';
  if (mapping.name === '[heap]') return 'malloc ([heap])';
  if (mapping.name.startsWith('[')) return mapping.name;
  return mapping.name;
}

const CATEGORIES = [
  [/^Builtins_/, 'V8 builtins (embedded)'],
  [/^v8::internal::compiler::turboshaft/, 'V8 Turboshaft'],
  [/^v8::internal::compiler/, 'V8 TurboFan (optimizing compiler)'],
  [/^v8::internal::maglev/, 'V8 Maglev'],
  [/^v8::internal::baseline/, 'V8 Sparkplug'],
  [/^v8::internal::interpreter/, 'V8 bytecode generator'],
  [/^v8::internal::wasm/, 'V8 wasm'],
  [/^v8::internal::(Parser|ParserBase|Scanner|PreParser)/, 'V8 parser'],
  [/^v8::internal::(Heap|MarkCompact|Scavenger|MinorMarkCompact|Sweeper|Concurrent|Mark)/, 'V8 garbage collector'],
  [/^v8::internal::RegExp/, 'V8 regexp'],
  [/^v8::internal::(Intl|JSTemporal)/, 'V8 Intl'],
  [/^v8::/, 'V8, other'],
  [/^(icu_|u_|ucol_|ubrk_|uloc_)/, 'ICU'],
  [/^node::crypto/, 'node crypto'],
  [/^node::/, 'node'],
  [/^uv_/, 'libuv'],
  [/^(nghttp2|llhttp|ares_)/, 'nghttp2, llhttp, c-ares'],
  [/^(EVP_|SSL|OPENSSL|CRYPTO|ossl|BN_|EC_|RSA|X509|ASN1|ERR_|OBJ_|BIO_|PEM_|bn_|ec_|x509|asn1|tls|ssl|evp_|OSSL|aesni|sha|SHA)/, 'OpenSSL'],
  [/^std::/, 'C++ standard library'],
];

function category(symbol) {
  for (const [pattern, name] of CATEGORIES) if (pattern.test(symbol)) return name;
  return 'other';
}

function symbolTable(binary) {
  const text = execFileSync('nm', ['-C', '-n', binary], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const addresses = [];
  const names = [];
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+) [tTrRdDbBwWvV] (.*)$/.exec(line);
    if (!match) continue;
    addresses.push(BigInt(`0x${match[1]}`));
    names.push(match[2]);
  }
  return { addresses, names };
}

function sections(binary) {
  const out = execFileSync('readelf', ['-SW', binary], { encoding: 'utf8' });
  const rows = [];
  for (const line of out.split('\n')) {
    const match = /\]\s+(\.\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)/.exec(line);
    if (match && BigInt(`0x${match[2]}`) !== 0n) rows.push({ name: match[1], start: BigInt(`0x${match[2]}`), end: BigInt(`0x${match[2]}`) + BigInt(`0x${match[3]}`) });
  }
  return rows;
}

function lookup(table, address) {
  let lo = 0;
  let hi = table.addresses.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (table.addresses[mid] <= address) lo = mid;
    else hi = mid - 1;
  }
  return table.names[lo] ?? '?';
}

const mib = (kib) => (kib / 1024).toFixed(1).padStart(6);

const pids = process.argv.slice(2);
if (pids.length === 0) {
  console.error('usage: node scripts/node-memory-map.mjs PID [PID...]');
  process.exit(2);
}
const binary = fs.realpathSync(`/proc/${pids[0]}/exe`);
// The binary's own addresses are its virtual addresses only when it is not position-independent (Debian's node).
const table = symbolTable(binary);
const sectionList = sections(binary);

for (const pid of pids) {
  const rows = mappings(pid);
  const byKind = new Map();
  for (const row of rows) byKind.set(kind(row), (byKind.get(kind(row)) ?? 0) + row.rssKiB);
  const total = rows.reduce((sum, row) => sum + row.rssKiB, 0);
  console.log(`\nPID ${pid} (${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 100)}): RSS ${mib(total)} MiB`);
  for (const [name, kib] of [...byKind].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${mib(kib)} MiB  ${name}`);

  const pagemap = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  const bySection = new Map();
  const byCategory = new Map();
  for (const row of rows.filter((r) => r.name === binary)) {
    const pages = Number((row.end - row.start) / BigInt(PAGE));
    const entries = Buffer.alloc(pages * 8);
    fs.readSync(pagemap, entries, 0, entries.length, Number((row.start / BigInt(PAGE)) * 8n));
    for (let i = 0; i < pages; i++) {
      if ((entries.readBigUInt64LE(i * 8) >> 63n) === 0n) continue;
      const address = row.start + BigInt(i * PAGE);
      const section = sectionList.find((s) => s.start <= address && address < s.end)?.name ?? '(other)';
      bySection.set(section, (bySection.get(section) ?? 0) + PAGE / 1024);
      if (section === '.text') {
        const name = category(lookup(table, address));
        byCategory.set(name, (byCategory.get(name) ?? 0) + PAGE / 1024);
      }
    }
  }
  fs.closeSync(pagemap);
  console.log(`  ${binary}, resident by section:`);
  for (const [name, kib] of [...bySection].sort((a, b) => b[1] - a[1])) console.log(`    ${mib(kib)} MiB  ${name}`);
  console.log('  .text by component:');
  for (const [name, kib] of [...byCategory].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`    ${mib(kib)} MiB  ${name}`);
}
