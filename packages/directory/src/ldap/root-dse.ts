/**
 * What a directory server says about itself in its root DSE, read once per connection (AD: the
 * domain, the policy-hints controls, the DC's clock) or by the doctor (OpenLDAP: Password Modify,
 * the ppolicy control).
 */
import type { Client } from 'ldapts';
import { str, strings } from './entry.js';

export interface RootDse {
  defaultNamingContext: string | undefined;
  dnsHostName: string | undefined;
  supportedControl: readonly string[];
  /** Extended operations (OpenLDAP: Password Modify 1.3.6.1.4.1.4203.1.11.1). */
  supportedExtension?: readonly string[];
  currentTime: string | undefined;
}

const ATTRIBUTES = ['defaultNamingContext', 'dnsHostName', 'supportedControl', 'supportedExtension', 'currentTime'];

/** Reads the root DSE; an empty one when the server returns no entry. Transport and LDAP errors propagate. */
export async function readRootDse(client: Client): Promise<RootDse> {
  const res = await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ATTRIBUTES });
  const e = res.searchEntries[0];
  if (!e)
    return {
      defaultNamingContext: undefined,
      dnsHostName: undefined,
      supportedControl: [],
      supportedExtension: [],
      currentTime: undefined,
    };
  return {
    defaultNamingContext: str(e, 'defaultNamingContext'),
    dnsHostName: str(e, 'dnsHostName'),
    supportedControl: [...new Set(strings(e, 'supportedControl'))],
    supportedExtension: [...new Set(strings(e, 'supportedExtension'))],
    currentTime: str(e, 'currentTime'),
  };
}
