/**
 * AD's complexity rule counts the character categories a password uses: upper case, lower case,
 * digits, symbols and other letters. The AD adapter (ad/password-rules.ts: the lenient reading of
 * Windows and Samba) and the embedded directory (embedded/policy.ts: Unicode classes) put a
 * character in a category differently; the counting is this one function.
 */
export type CharCategory = 'upper' | 'lower' | 'digit' | 'symbol' | 'other';

/** How many categories `password` uses; a character `classify` puts in none counts for nothing. */
export function countCategories(password: string, classify: (ch: string) => CharCategory | undefined): number {
  const seen = new Set<CharCategory>();
  for (const ch of password) {
    const c = classify(ch);
    if (c !== undefined) seen.add(c);
  }
  return seen.size;
}
