/** The end-user pages under /t/:tenant/ (sign-in, My Account, forgot password). */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../http/context.js';
import { pageTenant, redirect, tenantBase } from '../page.js';

export function registerUserPages(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant', async (req, reply) => redirect(reply, `${tenantBase(await pageTenant(services, req))}/signin`));
}
