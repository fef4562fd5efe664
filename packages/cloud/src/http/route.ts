/**
 * One route = one declaration: method, path, schemas for params/query/body, the responses and
 * error codes it can give (which feed the OpenAPI document), and a handler composed of small
 * named steps (`check-*`, `load-*`). Declaring routes this way keeps the document and the server
 * from drifting apart: a route cannot be served without being documented.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { CloudErrorCode } from '../errors.js';
import type { Services } from '../services.js';
import { checkBearer, checkEnrolled, principalOf } from './steps/check-auth.js';
import { parseInput } from './steps/parse-input.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Set on `auth: 'bearer'` routes (the request was refused otherwise). */
  principal: Principal | null;
  clientIp: string;
  services: Services;
  req: FastifyRequest;
}

export interface RouteReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface ResponseDoc {
  description: string;
  schema?: z.ZodType;
}

export interface RouteSpec<P, Q, B> {
  method: Method;
  /** Fastify path syntax (`:param`). */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** `bearer`: an API key or admin session is checked before the body is even read. */
  auth: 'none' | 'bearer';
  /**
   * `allowed`: an admin session without an enrolled authenticator may call this route (enrolment,
   * sign-out). Every other bearer route refuses such a session with 403
   * `second_factor_enrolment_required`, which is added to its documented errors here.
   */
  enrolOnlySessions?: 'allowed';
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** A missing body is parsed as `{}` (all fields optional). */
  bodyOptional?: boolean;
  responses: Record<number, ResponseDoc>;
  /** Error codes this route can answer (documented with their statuses). */
  errors: readonly CloudErrorCode[];
  handle(ctx: RouteContext<P, Q, B>): Promise<RouteReply>;
}

/** What the OpenAPI builder needs to know about a route, generics erased. */
export interface RouteDoc {
  method: Method;
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: 'none' | 'bearer';
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  bodyOptional: boolean;
  responses: Record<number, ResponseDoc>;
  errors: readonly CloudErrorCode[];
}

export interface Route {
  doc: RouteDoc;
  register(app: FastifyInstance, services: Services): void;
}

export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): Route {
  const enrolOnlyAllowed = spec.enrolOnlySessions === 'allowed';
  const refusesEnrolOnly = spec.auth === 'bearer' && !enrolOnlyAllowed;
  const errors: readonly CloudErrorCode[] =
    refusesEnrolOnly && !spec.errors.includes('second_factor_enrolment_required')
      ? [...spec.errors, 'second_factor_enrolment_required']
      : spec.errors;
  const doc: RouteDoc = {
    method: spec.method,
    url: spec.url,
    operationId: spec.operationId,
    summary: spec.summary,
    tag: spec.tag,
    auth: spec.auth,
    bodyOptional: spec.bodyOptional ?? false,
    responses: spec.responses,
    errors,
    ...(spec.description ? { description: spec.description } : {}),
    ...(spec.params ? { params: spec.params } : {}),
    ...(spec.query ? { query: spec.query } : {}),
    ...(spec.body ? { body: spec.body } : {}),
  };
  return {
    doc,
    register(app, services) {
      app.route({
        method: spec.method,
        url: spec.url,
        ...(spec.auth === 'bearer'
          ? {
              onRequest: async (req: FastifyRequest) => {
                await checkBearer(services, req);
                checkEnrolled(principalOf(req), { enrolOnlyAllowed });
              },
            }
          : {}),
        handler: async (req: FastifyRequest, reply: FastifyReply) => {
          const ctx: RouteContext<P, Q, B> = {
            params: spec.params ? parseInput(spec.params, req.params, 'params') : ({} as P),
            query: spec.query ? parseInput(spec.query, req.query, 'query') : ({} as Q),
            body: spec.body
              ? parseInput(spec.body, req.body === undefined && spec.bodyOptional ? {} : req.body, 'body')
              : (undefined as B),
            principal: principalOf(req),
            clientIp: req.ip,
            services,
            req,
          };
          const out = await spec.handle(ctx);
          reply.code(out.status);
          reply.header('cache-control', 'no-store');
          for (const [k, v] of Object.entries(out.headers ?? {})) reply.header(k, v);
          return reply.send(out.body);
        },
      });
    },
  };
}
