/**
 * The Fastify application: body limits, JSON only, one error shape, request logging through the
 * redacting logger, and the routes. Errors below 500 are `{ error: { code, message, ... } }` with a
 * stable code; everything else is a generic 500 with the detail only in the log.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CloudError, type CloudErrorCode } from '../errors.js';
import type { Services } from '../services.js';
import { errorBody } from './error-body.js';
import { normalisePath } from './normalise-path.js';
import { ALL_ROUTES } from './routes/index.js';
import type { Route } from './route.js';
import { registerWebPages } from '../web/register.js';

export interface HttpAppOptions {
  https?: { cert: string | Buffer; key: string | Buffer };
  /** Routes to serve (default: all). */
  routes?: readonly Route[];
  /** Serve the web pages (default: true). */
  webPages?: boolean;
}

/** Fastify's own client errors, mapped to ours. */
const FASTIFY_CODES: Record<string, CloudErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
};

const isFastifyError = (e: unknown): e is FastifyError =>
  e instanceof Error && 'code' in e && typeof e.code === 'string';

function toClientError(err: unknown): CloudError | null {
  if (err instanceof CloudError) return err.status < 500 ? err : null;
  if (isFastifyError(err)) {
    const mapped = FASTIFY_CODES[err.code];
    if (mapped)
      return new CloudError(
        mapped,
        mapped === 'payload_too_large'
          ? 'the request body is too large'
          : mapped === 'unsupported_media_type'
            ? 'send application/json'
            : 'the request body is not valid JSON',
      );
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
      return new CloudError('invalid_request', 'the request is not valid');
  }
  // JSON.parse failures and prototype-poisoning refusals surface as plain 400s.
  if (err instanceof SyntaxError) return new CloudError('invalid_request', 'the request body is not valid JSON');
  return null;
}

function sendError(reply: FastifyReply, e: CloudError): FastifyReply {
  if (e.retryAfterSeconds !== undefined) reply.header('retry-after', String(e.retryAfterSeconds));
  reply.header('cache-control', 'no-store');
  return reply.code(e.status).send(errorBody(e));
}

const registered = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Every method + path the app serves (HEAD routes Fastify adds for GET included), for checks against the OpenAPI document. */
export function registeredRoutes(app: FastifyInstance): readonly { method: string; url: string }[] {
  return registered.get(app) ?? [];
}

export function createHttpApp(services: Services, o: HttpAppOptions = {}): FastifyInstance {
  const { config, log } = services;
  const app = Fastify({
    logger: false,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // A percent-encoded login of 256 characters can be long; our own schema limits the decoded length.
    routerOptions: { maxParamLength: 4096 },
    genReqId: () => randomUUID(),
    // Every check after routing reads the same path the router matched (normalise-path.ts).
    rewriteUrl: (req) => normalisePath(req.url ?? '/'),
    return503OnClosing: true,
    forceCloseConnections: true,
    ...(o.https ? { https: { cert: o.https.cert, key: o.https.key } } : {}),
  });
  // JSON only: text/plain bodies would otherwise reach handlers as strings.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const client = toClientError(err);
    if (client) {
      if (client.code !== 'unauthorized' && client.code !== 'not_found')
        log.info('request refused', { reqId: req.id, code: client.code });
      return sendError(reply, client);
    }
    log.error('request failed', { reqId: req.id, method: req.method, route: req.routeOptions.url, err });
    reply.header('cache-control', 'no-store');
    return reply.code(500).send({ error: { code: 'internal_error', message: 'internal error' } });
  });
  app.setNotFoundHandler((_req, reply) => sendError(reply, new CloudError('not_found', 'no such resource')));

  app.addHook('onResponse', async (req, reply) => {
    // The route pattern, not the URL: paths carry logins, which the log does not need.
    log.debug('http', {
      reqId: req.id,
      method: req.method,
      route: req.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    });
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });

  const seen: { method: string; url: string }[] = [];
  registered.set(app, seen);
  app.addHook('onRoute', (r) => {
    // The web pages (/t/..., /assets/...) are HTML, not part of the API document.
    if (r.url.startsWith('/t/') || r.url === '/t' || r.url.startsWith('/assets/')) return;
    for (const method of Array.isArray(r.method) ? r.method : [r.method])
      seen.push({ method: String(method), url: r.url });
  });
  for (const route of o.routes ?? ALL_ROUTES) route.register(app, services);
  if (o.webPages ?? true) registerWebPages(app, services);
  return app;
}
