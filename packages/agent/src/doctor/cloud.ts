/** The doctor's cloud.* checks: the cloud's URL and its GET /healthz (whose Date header also gives a clock). */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { DoctorCheck } from '@writeback/directory';
import { AGENT_VERSION } from '../version.js';
import { errnoCode, reachFix, urlCheck, type ProbeContext, type ProbeResult } from './common.js';

interface HttpAnswer {
  status: number;
  date: number | null;
  body: string;
}

/** One GET with a CA and a timeout (fetch cannot take a CA file). */
function httpGet(url: URL, ca: Buffer | undefined, timeoutMs: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const options = {
      method: 'GET',
      timeout: timeoutMs,
      headers: { accept: 'application/json', 'user-agent': `writeback-agent/${AGENT_VERSION} doctor` },
      ...(ca ? { ca } : {}),
    };
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      res.on('end', () => {
        const d = res.headers.date ? Date.parse(res.headers.date) : Number.NaN;
        resolve({
          status: res.statusCode ?? 0,
          date: Number.isFinite(d) ? d : null,
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', reject);
    };
    const req =
      url.protocol === 'https:' ? httpsRequest(url, options, onResponse) : httpRequest(url, options, onResponse);
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

/** cloud.url and cloud.health; the clock is the Date header of the health answer. */
export async function cloudChecks({ state, ca, timeoutMs, now }: ProbeContext): Promise<ProbeResult> {
  const checks: DoctorCheck[] = [];
  const url = new URL(state.cloudUrl);
  checks.push(urlCheck('cloud.url', url, 'https:', 'cloudUrl'));
  const health = new URL('healthz', url.href.endsWith('/') ? url.href : `${url.href}/`);
  let answer: HttpAnswer;
  try {
    answer = await httpGet(health, ca, timeoutMs);
  } catch (err) {
    const code = errnoCode(err);
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `GET ${health.href} failed (${code})`,
      fix: reachFix(code, 'cloud'),
    });
    return { checks, clock: null };
  }
  const local = now();
  const clock = answer.date === null ? null : { server: answer.date, local };
  let status: unknown = null;
  try {
    const body: unknown = JSON.parse(answer.body);
    status = typeof body === 'object' && body !== null && 'status' in body ? body.status : null;
  } catch {
    status = null;
  }
  if (answer.status === 200 && status === 'ok')
    checks.push({ id: 'cloud.health', status: 'pass', summary: `${health.href} answers ok` });
  else if (answer.status === 503)
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `${health.href} answers 503: the cloud's store does not answer`,
      fix: 'The cloud operator must check its database.',
    });
  else
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `${health.href} answers HTTP ${answer.status}, not the writeback health document`,
      fix: 'Check cloudUrl in the state file points at the writeback cloud (not a proxy page).',
    });
  return { checks, clock };
}
