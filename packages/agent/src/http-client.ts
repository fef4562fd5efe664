/**
 * One HTTP(S) request of the agent's own (registration, the doctor's health check) that can go
 * through the outbound proxy's CONNECT tunnel and trust an extra CA, which `fetch` cannot.
 * Bodies are small JSON documents: the answer is read up to `maxBytes`.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  NO_PROXY_SETTINGS,
  proxyFor,
  trustedCas,
  tunnelAgent,
  type ProxyEndpoint,
  type ProxySettings,
} from './proxy.js';

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The proxy the request went through, null when direct. */
  via: ProxyEndpoint | null;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /** The CA for the server's certificate (--ca); the proxy's CA is added from `proxy`. */
  ca?: Buffer | undefined;
  proxy?: ProxySettings;
  maxBytes?: number;
}

/**
 * Send one request. Rejects with the socket's error (ECONNREFUSED, a TLS code, ETIMEDOUT) or an
 * AgentError `proxy_*` when the proxy refused the tunnel.
 */
export function sendHttp(url: URL, o: HttpRequestOptions): Promise<HttpAnswer> {
  const settings = o.proxy ?? NO_PROXY_SETTINGS;
  const via = proxyFor(url, settings);
  const secure = url.protocol === 'https:';
  const ca = trustedCas(o.ca, settings);
  const maxBytes = o.maxBytes ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const options = {
      method: o.method ?? 'GET',
      timeout: o.timeoutMs,
      headers: o.headers ?? {},
      ...(ca ? { ca } : {}),
      ...(via ? { agent: tunnelAgent(via, secure, { ca, timeoutMs: o.timeoutMs }) } : {}),
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= maxBytes) chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          via,
        }),
      );
      res.on('error', reject);
    };
    const req = secure ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(o.body);
  });
}
