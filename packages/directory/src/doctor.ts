/**
 * Doctor checks: what `agent doctor` prints for a directory, so an administrator can see, before
 * the first real request, whether the transport, the service account's rights and the policy
 * set-up will give exact and safe answers.
 */

/** One check's verdict. `fix` says what to change when the status is not `pass`. */
export interface DoctorCheck {
  /** Stable identifier (e.g. `tls`, `bind`, `rights.reset`). */
  id: string;
  status: 'pass' | 'warn' | 'fail';
  summary: string;
  fix?: string;
  /** A machine-readable reason when there is one (e.g. the relay's refusal code), for scripts and tests. */
  code?: string;
}
