/** The end-user pages under /t/:tenant/ (sign-in, My Account, forgot password). */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { pageTenant, redirect, tenantBase } from '../page.js';
import { registerAccountPages } from './account.js';
import { registerMethodPages } from './methods.js';
import { registerForgotPages } from './forgot.js';
import { registerSignInPages } from './signin.js';

export function registerUserPages(web: FastifyInstance, services: Services): void {
  web.get('/t/:tenant', async (req, reply) => redirect(reply, `${tenantBase(await pageTenant(services, req))}/signin`));
  registerSignInPages(web, services);
  registerAccountPages(web, services);
  registerMethodPages(web, services);
  registerForgotPages(web, services);
}
