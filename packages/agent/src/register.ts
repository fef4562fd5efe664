/**
 * Registration: the agent makes its own key pairs, sends only the public halves with the admin's
 * one-time token, and stores what the cloud answers (its certificate, the cloud's signing key and
 * the relay URL, or the list of relay URLs) in a 0600 state file. Behind an outbound proxy the
 * request goes through its CONNECT tunnel (proxy.ts), as the relay links do. Private keys never leave this host. The certificate is
 * checked before anything is stored: it must name our keys and verify with the cloud's key.
 */
import { access } from 'node:fs/promises';
import { z } from 'zod';
import {
  AgentCertificateSchema,
  PublicKeySchema,
  generateEncryptionKeyPair,
  generateSigningKeyPair,
  type Logger,
} from '@writeback/protocol';
import {
  AgentStateSchema,
  DirectoryConfigSchema,
  IdSchema,
  checkStateConsistency,
  writeState,
  type AgentState,
} from './config.js';
import { AgentError } from './errors.js';
import { sendHttp } from './http-client.js';
import { defaultLogger } from './log-sink.js';
import { describeProxy, proxyFor, type ProxySettings } from './proxy.js';
import { checkOutboundUrl } from './urls.js';
import { AGENT_VERSION } from './version.js';

const RegisterResponseSchema = z.object({
  agentId: IdSchema,
  tenantId: IdSchema,
  certificate: AgentCertificateSchema,
  cloudSigningKey: PublicKeySchema,
  relayUrl: z.url(),
  /** A cloud with several relays hands them all out (RELAY_URLS); older clouds send relayUrl alone. */
  relayUrls: z.array(z.url()).min(1).max(16).optional(),
});

const CloudErrorSchema = z.object({ error: z.object({ code: z.string().max(64) }) });

export interface RegisterOptions {
  /** Base URL of the cloud, e.g. https://writeback.example.com */
  cloudUrl: string;
  /** The admin's one-time registration token (never logged). */
  token: string;
  /** A name for this agent, shown to admins. */
  name: string;
  /** Where to write the state file (0600). */
  statePath: string;
  /** The directory configuration stored in the state file; its `kind` is announced to the cloud. */
  directory: unknown;
  /** Replace an existing state file (the old identity is then lost). Default false. */
  overwrite?: boolean;
  /** Allow http:// to a non-loopback cloud (never for production). Default false. */
  allowPlaintext?: boolean;
  fetch?: typeof fetch;
  /** The outbound proxy (`proxySettingsFromEnv`): when it applies to the cloud URL, the request tunnels through it. */
  proxy?: ProxySettings;
  log?: Logger;
  timeoutMs?: number;
}

/** Register this agent with the cloud and write its state file. Throws AgentError. */
export async function registerAgent(o: RegisterOptions): Promise<AgentState> {
  const log = o.log ?? defaultLogger('agent');
  const cloud = checkOutboundUrl(
    o.cloudUrl,
    { secure: 'https:', plain: 'http:', option: 'cloudUrl' },
    o.allowPlaintext ?? false,
    log,
  );
  const directory = DirectoryConfigSchema.safeParse(o.directory);
  if (!directory.success) throw new AgentError('invalid_config', 'directory config must be an object with a "kind"');
  const name = z.string().min(1).max(128).safeParse(o.name);
  if (!name.success) throw new AgentError('invalid_config', 'name must be 1 to 128 characters');
  if (typeof o.token !== 'string' || o.token.length === 0 || o.token.length > 1024)
    throw new AgentError('invalid_config', 'token is required');
  // Checked before the request: a refused write after it would burn the one-time token.
  if (
    !o.overwrite &&
    (await access(o.statePath).then(
      () => true,
      () => false,
    ))
  ) {
    throw new AgentError('state_exists', `a state file already exists at ${o.statePath}`);
  }

  const signing = generateSigningKeyPair();
  const encryption = generateEncryptionKeyPair();
  const endpoint = new URL('api/v1/agents/register', cloud.href.endsWith('/') ? cloud.href : `${cloud.href}/`);
  const requestBody = JSON.stringify({
    token: o.token,
    name: name.data,
    signingKey: signing.publicKey,
    encryptionKey: encryption.publicKey,
    agentVersion: AGENT_VERSION,
    directory: directory.data.kind,
  });
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  const timeoutMs = o.timeoutMs ?? 15_000;
  const proxy = o.proxy ? proxyFor(endpoint, o.proxy) : null;
  let res: { status: number; text: string };
  try {
    if (proxy && o.proxy) {
      log.info('registering through the proxy', { proxy: describeProxy(proxy) });
      const answer = await sendHttp(endpoint, {
        method: 'POST',
        headers: { ...headers, 'user-agent': `writeback-agent/${AGENT_VERSION}` },
        body: requestBody,
        timeoutMs,
        proxy: o.proxy,
      });
      res = { status: answer.status, text: answer.body };
    } else {
      const answer = await (o.fetch ?? fetch)(endpoint, {
        method: 'POST',
        headers,
        body: requestBody,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      res = { status: answer.status, text: await answer.text().catch(() => '') };
    }
  } catch (cause) {
    // A proxy's refusal keeps its own code: the proxy is what needs fixing, not the cloud.
    if (cause instanceof AgentError) throw cause;
    throw new AgentError('cloud_unreachable', `cloud at ${cloud.origin} could not be reached`, { cause });
  }

  let body: unknown = null;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = null;
  }
  if (res.status !== 201) {
    const err = CloudErrorSchema.safeParse(body);
    const cloudCode = err.success ? err.data.error.code : undefined;
    if (res.status === 401)
      throw new AgentError('invalid_token', 'the cloud refused the registration token', cloudCode ? { cloudCode } : {});
    throw new AgentError(
      'registration_refused',
      `the cloud refused the registration (HTTP ${res.status})`,
      cloudCode ? { cloudCode } : {},
    );
  }
  const parsed = RegisterResponseSchema.safeParse(body);
  if (!parsed.success) throw new AgentError('bad_cloud_response', 'the registration answer does not match the schema');
  const r = parsed.data;

  const state = AgentStateSchema.parse({
    version: 1,
    cloudUrl: cloud.href,
    relayUrl: r.relayUrl,
    ...(r.relayUrls ? { relayUrls: r.relayUrls } : {}),
    agentId: r.agentId,
    tenantId: r.tenantId,
    name: name.data,
    certificate: r.certificate,
    cloudSigningKey: r.cloudSigningKey,
    signing,
    encryption,
    directory: directory.data,
  });
  try {
    checkStateConsistency(state);
  } catch (cause) {
    throw new AgentError(
      'bad_cloud_response',
      'the certificate the cloud issued does not match this agent or does not verify',
      { cause },
    );
  }
  await writeState(o.statePath, state);
  log.info('agent registered', {
    agentId: state.agentId,
    tenantId: state.tenantId,
    relayUrls: state.relayUrls ?? [state.relayUrl],
  });
  return state;
}
