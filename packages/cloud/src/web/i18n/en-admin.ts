/**
 * Strings of the admin pages (owner: web-admin). Placeholder created with the web foundation so
 * i18n/index.ts can merge it; replace freely.
 */
export const enAdmin = {} as const;
