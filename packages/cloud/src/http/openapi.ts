/**
 * The OpenAPI 3.1 document, generated from the same route declarations and zod schemas the server
 * uses (JSON Schema 2020-12 is OpenAPI 3.1's dialect), with every route's error codes listed
 * under their HTTP statuses.
 */
import { z } from 'zod';
import { CLOUD_ERROR_HTTP_STATUS, type CloudErrorCode } from '../errors.js';
import type { RouteDoc } from './route.js';
import { ErrorBodySchema } from './schemas.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const s: Json = { ...z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) };
  delete s.$schema;
  return s;
}

const isRecord = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const js = jsonSchema(schema, 'input');
  const props = isRecord(js.properties) ? js.properties : {};
  const required = new Set(
    Array.isArray(js.required) ? js.required.filter((r): r is string => typeof r === 'string') : [],
  );
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
  }));
}

const toOpenApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** The header every `keyed` write route takes (http/steps/check-idempotency.ts, idempotency/). */
const IDEMPOTENCY_KEY_PARAMETER: Json = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'Makes a retry safe: sent again with the same key (same caller, same request), the request is not run again; ' +
    'the answer is the first one (status and body, with `Idempotent-Replayed: true`), or, if the first is still ' +
    'running, it is waited for (409 `conflict` with Retry-After after a while). Another request with the same key: ' +
    '422 `idempotency_key_reused`. A first request that ended without an answer (its node stopped) is answered ' +
    'from the audit record of its directory write (`outcome_unknown` while that is open), or 409 ' +
    '`idempotency_outcome_unknown` if it made none. Keys are kept 24 h, per tenant and caller. See docs/outcomes.md.',
  schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' },
};

function describeIdempotency(r: RouteDoc): string | undefined {
  const none = r.idempotency !== undefined && r.idempotency !== 'keyed' ? r.idempotency.none : undefined;
  if (none === undefined) return r.description;
  const note = `Takes no Idempotency-Key: ${none}`;
  return r.description ? `${r.description}\n\n${note}` : note;
}

function errorResponse(codes: CloudErrorCode[]): Json {
  const base = jsonSchema(ErrorBodySchema, 'output');
  // Narrow the code enum to what this status can carry on this route.
  const props = isRecord(base.properties) ? base.properties : {};
  const error = isRecord(props.error) ? props.error : {};
  const errProps = isRecord(error.properties) ? error.properties : {};
  const schema = {
    ...base,
    properties: { ...props, error: { ...error, properties: { ...errProps, code: { type: 'string', enum: codes } } } },
  };
  return { description: `Error: ${codes.join(', ')}`, content: { 'application/json': { schema } } };
}

export interface OpenApiInfo {
  title?: string;
  version?: string;
  serverUrl?: string;
}

export function buildOpenApi(routes: readonly RouteDoc[], info: OpenApiInfo = {}): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const responses: Record<string, Json> = {};
    for (const [status, doc] of Object.entries(r.responses)) {
      responses[status] = doc.schema
        ? {
            description: doc.description,
            content: { 'application/json': { schema: jsonSchema(doc.schema, 'output') } },
          }
        : { description: doc.description };
    }
    const byStatus = new Map<number, CloudErrorCode[]>();
    for (const code of r.errors) {
      const status = CLOUD_ERROR_HTTP_STATUS[code];
      byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
    }
    for (const [status, codes] of byStatus) {
      const err = errorResponse(codes);
      const prior = responses[String(status)];
      if (!prior) {
        responses[String(status)] = err;
        continue;
      }
      // A status shared by an outcome and an error (403, 404): either body shape may come back.
      const priorContent = isRecord(prior.content) ? prior.content : {};
      const priorJson = isRecord(priorContent['application/json']) ? priorContent['application/json'] : {};
      const errContent = isRecord(err.content) ? err.content : {};
      const errJson = isRecord(errContent['application/json']) ? errContent['application/json'] : {};
      responses[String(status)] = {
        description: `${String(prior.description)}; or ${String(err.description)}`,
        content: { 'application/json': { schema: { oneOf: [priorJson.schema ?? {}, errJson.schema ?? {}] } } },
      };
    }
    responses['500'] = {
      description: 'Internal error (details only in the server log)',
      content: { 'application/json': { schema: jsonSchema(ErrorBodySchema, 'output') } },
    };
    const op: Json = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      parameters: [
        ...parameters(r.params, 'path'),
        ...parameters(r.query, 'query'),
        ...(r.idempotency === 'keyed' ? [IDEMPOTENCY_KEY_PARAMETER] : []),
      ],
      responses,
      ...(describeIdempotency(r) ? { description: describeIdempotency(r) } : {}),
      ...(r.auth === 'bearer' ? { security: [{ bearer: [] }] } : { security: [] }),
      ...(r.body
        ? {
            requestBody: {
              required: !r.bodyOptional,
              content: { 'application/json': { schema: jsonSchema(r.body, 'input') } },
            },
          }
        : {}),
    };
    const path = toOpenApiPath(r.url);
    paths[path] = { ...(paths[path] ?? {}), [r.method.toLowerCase()]: op };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title ?? 'writeback cloud API',
      version: info.version ?? '1',
      description:
        'Synchronous password writeback to on-premises directories. Outcome codes and error codes are listed in docs/outcomes.md.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (wbk_<id>.<secret>) or an admin session token (wbs_<id>.<secret>).',
        },
      },
    },
    paths,
  };
}
