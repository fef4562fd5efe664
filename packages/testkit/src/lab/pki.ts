/**
 * Throwaway X.509 material for TLS in tests, made with the openssl CLI: self-signed certificates
 * (a lab CA, or a server's own) and server certificates a CA signs, all on EC P-256 keys. The
 * lab's servers (slapd.ts, samba.ts), the agent's TLS relay and the cloud's HTTPS test use it.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const openssl = (args: readonly string[]) => run('openssl', args);
const NEW_EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Where a certificate (PEM) and its private key (PEM) are written. */
export interface CertificateFiles {
  cert: string;
  key: string;
}

export interface CertificateOptions {
  /** The subject, `/CN=…`. */
  subject: string;
  days: number;
  /** X.509v3 extensions, `name=value` each (e.g. `subjectAltName=IP:127.0.0.1`). */
  extensions?: readonly string[];
}

/** A new key and a certificate signed by that key (a CA when the extensions say so). */
export async function selfSignedCertificate(files: CertificateFiles, o: CertificateOptions): Promise<CertificateFiles> {
  await openssl([
    'req',
    '-x509',
    ...NEW_EC_KEY,
    '-keyout',
    files.key,
    '-out',
    files.cert,
    '-days',
    String(o.days),
    '-subj',
    o.subject,
    ...(o.extensions ?? []).flatMap((e) => ['-addext', e]),
  ]);
  return files;
}

/**
 * A new key and a certificate for it signed by `ca`; the request and the extensions file are left
 * next to the certificate (`<cert>.csr`, `<cert>.ext`), the CA's serial next to the CA.
 */
export async function signedCertificate(
  files: CertificateFiles,
  ca: CertificateFiles,
  o: CertificateOptions,
): Promise<CertificateFiles> {
  const csr = `${files.cert}.csr`;
  const ext = `${files.cert}.ext`;
  writeFileSync(ext, (o.extensions ?? []).map((e) => `${e}\n`).join(''));
  await openssl(['req', ...NEW_EC_KEY, '-keyout', files.key, '-out', csr, '-subj', o.subject]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    files.cert,
    '-days',
    String(o.days),
    '-extfile',
    ext,
  ]);
  return files;
}
