/** The static assets (one stylesheet, one script), read once at start-up and served from memory. */
import { readFileSync } from 'node:fs';

export interface Asset {
  body: string;
  type: string;
}

const load = (name: string, type: string): Asset => ({
  body: readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8'),
  type,
});

export const ASSETS: Readonly<Record<string, Asset>> = {
  'app.css': load('app.css', 'text/css; charset=utf-8'),
  'policy-check.js': load('policy-check.js', 'text/javascript; charset=utf-8'),
};
