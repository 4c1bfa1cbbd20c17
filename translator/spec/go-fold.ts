/**
 * How Go's encoding/json matches an object key to a struct field: without
 * regard to case, with bytes.EqualFold's folding. Pure.
 */

/** A key as Go's case-insensitive field match sees it: ASCII letters lowered, ſ as s and K (Kelvin) as k. */
export function goFoldKey(key: string): string {
  let folded = '';
  for (const ch of key) {
    if (ch >= 'A' && ch <= 'Z') folded += ch.toLowerCase();
    else if (ch === '\u017f') folded += 's';
    else if (ch === '\u212a') folded += 'k';
    else folded += ch;
  }
  return folded;
}
