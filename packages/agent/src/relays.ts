/**
 * Which relays an agent dials, and how its links spread over them. An agent is given a list of
 * relay URLs (the state file's `relayUrls` as the cloud handed them out, or the operator's own list
 * from `run --relays` / WRITEBACK_RELAY_URLS) and/or one name with several addresses; link i starts
 * on relay i (mod the list) and, whenever its connection fails or is lost, moves on to the next, so
 * a relay that dies leaves the agent on the others while the dead one's links come back elsewhere.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, connect as netConnect } from 'node:net';
import type { Agent } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { connectAgent } from './proxy.js';
import type { AgentState } from './config.js';
import { AgentError } from './errors.js';

/** Most relay URLs one agent takes (as many as it may have links). */
export const MAX_RELAY_URLS = 16;

/**
 * The relay URLs of an agent: `override` when given (the operator's list), else the state's
 * `relayUrls`, else its single `relayUrl` (a state written before lists keeps working). Order kept,
 * duplicates dropped. Throws AgentError `invalid_config` for an empty or too long list.
 */
export function relayUrlsOf(state: Pick<AgentState, 'relayUrl' | 'relayUrls'>, override?: readonly string[]): string[] {
  const chosen = override && override.length > 0 ? override : (state.relayUrls ?? [state.relayUrl]);
  const urls = [...new Set(chosen.map((u) => u.trim()).filter((u) => u !== ''))];
  if (urls.length === 0) throw new AgentError('invalid_config', 'no relay URL');
  if (urls.length > MAX_RELAY_URLS)
    throw new AgentError('invalid_config', `at most ${MAX_RELAY_URLS} relay URLs (got ${urls.length})`);
  return urls;
}

/** A comma- or space-separated list (`--relays`, WRITEBACK_RELAY_URLS, RELAY_URLS). */
export function parseUrlList(text: string | undefined): string[] {
  return (text ?? '')
    .split(/[\s,]+/)
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

/** The position in a list of `n` that link `index` uses after `moves` failed or lost connections. */
export function spreadIndex(index: number, moves: number, n: number): number {
  return n <= 0 ? 0 : (index + moves) % n;
}

type Resolver = (
  host: string,
  options: { all: true },
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** net.connect's `lookup` signature (called with `all` when Node tries several addresses itself). */
export type ConnectLookup = (
  host: string,
  options: { all?: boolean; family?: number | string },
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

/**
 * A `lookup` for one link's connection: the addresses of the name, in a stable order, and the one at
 * `spreadIndex(index, moves)` of them, so the links of one agent reach different relays behind one
 * name with several addresses (and a link moves to the next address when its connection failed).
 * IP literals and names with one address behave as before.
 */
export function spreadLookup(index: number, moves: number, resolve: Resolver = dnsLookup as Resolver): ConnectLookup {
  return (host, options, callback) => {
    resolve(host, { all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '', undefined);
      // Spread over the IPv4 addresses when there are any (a name's relays behind several A records;
      // a host whose IPv6 path is broken would otherwise lose half its links at first), else IPv6.
      const v4 = addresses.filter((a) => a.family === 4);
      const sorted = (v4.length > 0 ? v4 : [...addresses]).sort((a, b) => a.address.localeCompare(b.address));
      const chosen = sorted[spreadIndex(index, moves, sorted.length)];
      if (!chosen)
        return callback(
          Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }),
          options.all ? [] : '',
        );
      if (options.all) callback(null, [chosen]);
      else callback(null, chosen.address, chosen.family);
    });
  };
}

/** Whether spreading by address applies to this host (a name, not an IP literal). */
export function isName(hostname: string): boolean {
  return isIP(hostname.replace(/^\[|\]$/g, '')) === 0;
}

/** An Agent that dials the address `lookup` picks (TLS checked for the name, against `ca` when given). */
export function spreadAgent(
  secure: boolean,
  lookup: ConnectLookup,
  ca: Buffer | (string | Buffer)[] | undefined,
): Agent {
  return connectAgent(secure, async ({ host, port, servername }) =>
    secure
      ? tlsConnect({
          host,
          port,
          lookup,
          servername: isIP(servername) ? '' : servername,
          ALPNProtocols: ['http/1.1'],
          ...(ca ? { ca } : {}),
        })
      : netConnect({ host, port, lookup }),
  );
}
