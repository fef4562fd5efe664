/** The doctor's cloud.* checks: the cloud's URL and its GET /healthz (whose Date header also gives a clock). */
import type { DoctorCheck } from '@writeback/directory';
import { AgentError } from '../errors.js';
import { sendHttp, type HttpAnswer } from '../http-client.js';
import { proxyFor } from '../proxy.js';
import { AGENT_VERSION } from '../version.js';
import { errnoCode, proxyFix, reachFix, urlCheck, type ProbeContext, type ProbeResult } from './common.js';

/** cloud.url and cloud.health; the clock is the Date header of the health answer. */
export async function cloudChecks({ state, ca, proxy, timeoutMs, now }: ProbeContext): Promise<ProbeResult> {
  const checks: DoctorCheck[] = [];
  const url = new URL(state.cloudUrl);
  checks.push(urlCheck('cloud.url', url, 'https:', 'cloudUrl'));
  const health = new URL('healthz', url.href.endsWith('/') ? url.href : `${url.href}/`);
  let answer: HttpAnswer;
  const via = proxyFor(health, proxy);
  try {
    answer = await sendHttp(health, {
      timeoutMs,
      ca,
      proxy,
      headers: { accept: 'application/json', 'user-agent': `writeback-agent/${AGENT_VERSION} doctor` },
    });
  } catch (err) {
    const code = errnoCode(err);
    checks.push({
      id: 'cloud.health',
      status: 'fail',
      summary: `GET ${health.href}${via ? ` through ${via.url.origin}` : ''} failed (${code})`,
      fix: via && err instanceof AgentError ? proxyFix(code, via, health.host) : reachFix(code, 'cloud'),
      ...(err instanceof AgentError ? { code } : {}),
    });
    return { checks, clock: null };
  }
  const local = now();
  const date = answer.headers.date ? Date.parse(answer.headers.date) : Number.NaN;
  const clock = Number.isFinite(date) ? { server: date, local } : null;
  let status: unknown = null;
  try {
    const body: unknown = JSON.parse(answer.body);
    status = typeof body === 'object' && body !== null && 'status' in body ? body.status : null;
  } catch {
    status = null;
  }
  if (answer.status === 200 && status === 'ok')
    checks.push({
      id: 'cloud.health',
      status: 'pass',
      summary: `${health.href} answers ok${via ? ` (through ${via.url.origin})` : ''}`,
    });
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
