/**
 * The admin pages under `/t/:tenant/admin/...` (sign-in with TOTP, users, expiring passwords,
 * agents, settings, admins, audit) and their stylesheet. Registered inside the pages' Fastify scope by web/register.ts, so
 * they share its security headers, CSRF check on every POST and error pages.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { registerAdminAdmins } from './admins.js';
import { registerAdminAgents } from './agents.js';
import { registerAdminAudit } from './audit.js';
import { registerAdminExpiry } from './expiry.js';
import { registerAdminSettings } from './settings.js';
import { registerAdminSignIn } from './signin.js';
import { registerAdminUsers } from './users.js';

const ADMIN_CSS = readFileSync(new URL('./admin.css', import.meta.url), 'utf8');

export function registerAdminPages(web: FastifyInstance, services: Services): void {
  web.get('/assets/admin.css', async (_req, reply) => reply.type('text/css; charset=utf-8').send(ADMIN_CSS));
  registerAdminSignIn(web, services);
  registerAdminUsers(web, services);
  registerAdminExpiry(web, services);
  registerAdminAgents(web, services);
  registerAdminSettings(web, services);
  registerAdminAdmins(web, services);
  registerAdminAudit(web, services);
}
