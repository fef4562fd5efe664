/**
 * The doctor's `proxy` check: whether the relays and the cloud are reached through an outbound
 * proxy (which, and where its credentials and CA come from) or directly, read from the same
 * environment `run` reads. A setting that cannot be used (a proxy URL that does not parse, an
 * unreadable credentials or CA file) fails here; how the proxy answers is `proxy.connect` (relay.ts).
 */
import type { DoctorCheck } from '@writeback/directory';
import { AgentError } from '../errors.js';
import { NO_PROXY_SETTINGS, describeProxy, proxyFor, proxySettingsFromEnv, type ProxySettings } from '../proxy.js';
import { errnoCode } from './common.js';

/** The proxy settings of `env` and the `proxy` check about them, for these relays and this cloud. */
export function proxyCheck(
  env: Readonly<Record<string, string | undefined>>,
  relayUrls: readonly string[],
  cloudUrl: string,
): { settings: ProxySettings; check: DoctorCheck } {
  let settings: ProxySettings;
  try {
    settings = proxySettingsFromEnv(env);
  } catch (err) {
    return {
      settings: NO_PROXY_SETTINGS,
      check: {
        id: 'proxy',
        status: 'fail',
        code: err instanceof AgentError ? err.code : errnoCode(err),
        // The messages name files and variables, never their contents.
        summary: err instanceof Error ? err.message : 'the proxy settings cannot be used',
        fix: 'Fix HTTPS_PROXY / HTTP_PROXY, or the file WRITEBACK_PROXY_AUTH_FILE / WRITEBACK_PROXY_CA_FILE names (readable by the agent user).',
      },
    };
  }
  const route = (raw: string) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return `${raw} (not a URL)`;
    }
    const via = proxyFor(url, settings);
    return `${url.origin} ${via ? `via ${describeProxy(via)}` : settings.https || settings.http ? 'direct (NO_PROXY)' : 'direct'}`;
  };
  const used = [...relayUrls, cloudUrl].some((u) => {
    try {
      return proxyFor(new URL(u), settings) !== null;
    } catch {
      return false;
    }
  });
  const ca = settings.caFile ? `; CA from ${settings.caFile}` : '';
  return {
    settings,
    check: {
      id: 'proxy',
      status: 'pass',
      summary: `${used ? '' : 'no proxy: '}relay ${relayUrls.map(route).join(', ')}; cloud ${route(cloudUrl)}${ca}`,
    },
  };
}
