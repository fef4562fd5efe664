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
import { runIdempotently } from './steps/check-idempotency.js';
import { parseInput } from './steps/parse-input.js';

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/**
 * What a retry of a write route may rely on (issue 11), decided per route. `keyed`: the route takes
 * an `Idempotency-Key` header; a request sent again with the same key gets the first answer (or
 * waits for it) and never runs twice (steps/check-idempotency.ts). `{ none: why }`: it takes none
 * (a header sent anyway is ignored), and `why` is said in its OpenAPI description.
 */
export type Idempotency = 'keyed' | { none: string };

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

/** What a route says of itself: the same for the server (RouteSpec) and the document (RouteDoc). */
interface RouteHead {
  method: Method;
  /** Fastify path syntax (`:param`). */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** `bearer`: an API key or admin session is checked before the body is even read. */
  auth: 'none' | 'bearer';
  /** Required on POST, PATCH and DELETE (defineRoute throws a TypeError without it); GET changes nothing. */
  idempotency?: Idempotency;
  responses: Record<number, ResponseDoc>;
  /** Error codes this route can answer (documented with their statuses). */
  errors: readonly CloudErrorCode[];
}

export interface RouteSpec<P, Q, B> extends RouteHead {
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
  handle(ctx: RouteContext<P, Q, B>): Promise<RouteReply>;
}

/** What the OpenAPI builder needs to know about a route, generics erased. */
export interface RouteDoc extends RouteHead {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  bodyOptional: boolean;
}

/** What a keyed route may answer besides its own errors: a malformed key, another request's key, a key still running or never answered. */
const IDEMPOTENCY_ERRORS: readonly CloudErrorCode[] = [
  'invalid_request',
  'idempotency_key_reused',
  'conflict',
  'idempotency_outcome_unknown',
];

export interface Route {
  doc: RouteDoc;
  register(app: FastifyInstance, services: Services): void;
}

export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteSpec<P, Q, B>,
): Route {
  const enrolOnlyAllowed = spec.enrolOnlySessions === 'allowed';
  const refusesEnrolOnly = spec.auth === 'bearer' && !enrolOnlyAllowed;
  if (spec.method !== 'GET' && spec.idempotency === undefined)
    throw new TypeError(
      `route ${spec.operationId}: a ${spec.method} route declares idempotency ('keyed' or { none: why })`,
    );
  const keyed = spec.idempotency === 'keyed';
  const added: CloudErrorCode[] = [
    ...(refusesEnrolOnly ? (['second_factor_enrolment_required'] as const) : []),
    ...(keyed ? IDEMPOTENCY_ERRORS : []),
  ];
  const errors: readonly CloudErrorCode[] = [...spec.errors, ...added.filter((c) => !spec.errors.includes(c))];
  const doc: RouteDoc = {
    method: spec.method,
    url: spec.url,
    operationId: spec.operationId,
    summary: spec.summary,
    tag: spec.tag,
    auth: spec.auth,
    bodyOptional: spec.bodyOptional ?? false,
    ...(spec.idempotency ? { idempotency: spec.idempotency } : {}),
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
          const out = keyed
            ? await runIdempotently(
                services,
                req,
                {
                  route: spec.operationId,
                  principal: ctx.principal,
                  params: ctx.params,
                  query: ctx.query,
                  body: ctx.body,
                },
                () => spec.handle(ctx),
              )
            : await spec.handle(ctx);
          reply.code(out.status);
          reply.header('cache-control', 'no-store');
          for (const [k, v] of Object.entries(out.headers ?? {})) reply.header(k, v);
          return reply.send(out.body);
        },
      });
    },
  };
}
