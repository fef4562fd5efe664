/**
 * `t(key, vars)`: the one way pages get a string. Keys are checked by the compiler; `{name}`
 * placeholders are replaced with the given values (plain text: escaping is the template's job).
 */
import { enAdmin } from './en-admin.js';
import { en } from './en.js';

const messages: Readonly<Record<string, string>> = { ...en, ...enAdmin };

export type MessageKey = keyof typeof en | keyof typeof enAdmin;
export type MessageVars = Readonly<Record<string, string | number>>;

export function t(key: MessageKey, vars?: MessageVars): string {
  const text = messages[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** Whether a key exists (for codes that come from data, e.g. an outcome or a question id). */
export const hasMessage = (key: string): key is MessageKey => Object.hasOwn(messages, key);

/** A string for a key that comes from data; falls back to `fallback` when unknown. */
export function tDynamic(key: string, fallback: MessageKey, vars?: MessageVars): string {
  return hasMessage(key) ? t(key, vars) : t(fallback, vars);
}

export { en };
