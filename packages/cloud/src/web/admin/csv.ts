/**
 * CSV (RFC 4180) for exports opened in spreadsheets: every cell quoted when it holds a comma,
 * quote, CR or LF (quotes doubled), lines end with CRLF, and a cell a spreadsheet would run as a
 * formula (starting with = + - @, or a tab or CR) is prefixed with `'` (OWASP's CSV injection advice).
 */

const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  let s = String(value);
  if (typeof value === 'string' && FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const csvLine = (cells: readonly (string | number | boolean | null | undefined)[]): string =>
  `${cells.map(csvCell).join(',')}\r\n`;
