/**
 * Agent errors: one base error with a stable `code` callers switch on (the CLI maps codes to exit
 * messages; tests assert on codes), the `cause` kept (after panva/jose `util/errors.ts`).
 */
import { defineCodes, type CodeOf, type CodedErrorOptions } from '@writeback/protocol';

const agentErrors = defineCodes('AgentError', [
  /** No state file at the given path. */
  'state_not_found',
  /** The state file is readable by group or others (must be 0600). */
  'state_insecure_permissions',
  /** The state file does not parse or its parts do not belong together. */
  'state_invalid',
  /** Registering would overwrite an existing state file. */
  'state_exists',
  /** The cloud refused the registration token (unknown, used or expired). */
  'invalid_token',
  /** The cloud refused the registration for another reason. */
  'registration_refused',
  /** The cloud could not be reached. */
  'cloud_unreachable',
  /** The cloud answered something that does not parse or does not verify. */
  'bad_cloud_response',
  /** A plain-text URL to a non-loopback host without an explicit opt-in. */
  'insecure_url',
  /** A configuration value or CLI argument is invalid. */
  'invalid_config',
  /** `config set` was given a secret (e.g. bindPassword) on the command line instead of stdin or --file. */
  'config_secret_in_argv',
  /** `config set` would change the directory's kind (register a new agent for another kind). */
  'config_kind_change',
  /** No Directory was given and none can be built from the state's directory config. */
  'directory_not_configured',
  /** The outbound proxy could not be reached (refused, timed out, did not speak HTTP). */
  'proxy_unreachable',
  /** The proxy answered 407 (or 401): credentials missing or refused (WRITEBACK_PROXY_AUTH_FILE). */
  'proxy_auth_failed',
  /** The proxy answered 403: its policy does not allow a tunnel to this host and port. */
  'proxy_forbidden',
  /** The proxy answered another error instead of opening the tunnel (e.g. 502: it could not reach the host). */
  'proxy_refused',
]);

export const AGENT_ERROR_CODES = agentErrors.codes;
export type AgentErrorCode = CodeOf<typeof agentErrors>;

/** An agent failure the CLI reports by code (AgentError.is narrows to it). */
export class AgentError extends agentErrors.Error {
  /** The cloud's own error code, when the error came from the cloud. */
  readonly cloudCode: string | undefined;
  constructor(code: AgentErrorCode, message: string, options?: CodedErrorOptions & { cloudCode?: string }) {
    super(code, message, options);
    this.cloudCode = options?.cloudCode;
  }
}
