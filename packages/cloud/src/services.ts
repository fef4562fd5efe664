/**
 * What the adapters (HTTP routes, web pages) and the use cases are given to work with: the services
 * built once by createCloud (the composition root). Nothing reaches the store or the relay otherwise.
 */
import type { Logger } from '@writeback/protocol';
import type { RelayClient } from '@writeback/relay';
import type { CloudConfig } from './config.js';
import type { CloudSigningKey } from './keys/cloud-key.js';
import type { Mailer, SmsProvider } from './mail/mailer.js';
import type { RateLimiter } from './rate-limit/limiter.js';
import type { AccountLimiters } from './usecases/attempts.js';
import type { Db } from './store/index.js';
import type { SyncEngine } from './sync/engine.js';
import type { WritebackService } from './writeback/service.js';

export interface Services {
  config: CloudConfig;
  db: Db;
  relay: RelayClient;
  writeback: WritebackService;
  cloudKey: CloudSigningKey;
  now: () => number;
  log: Logger;
  /** Outgoing e-mail (SMTP, or kept in memory in development). */
  mailer: Mailer;
  /** Outgoing text messages (console/memory provider in development). */
  sms: SmsProvider;
  /** The attempt budgets of the guessable steps, in the store (usecases/attempts.ts). */
  limiters: {
    /** Self-service password change (API and My Account). */
    change: AccountLimiters;
    /** Admin sign-in and its second factor (API and pages). */
    adminSignIn: AccountLimiters;
    /** End-user sign-in (POST /sign-in and the sign-in page). */
    userSignIn: AccountLimiters;
    /** Failed Bearer credentials (API keys, admin session tokens) per client address. */
    apiAuthFailuresPerIp: RateLimiter;
  };
  /** Directory sync (state, runs, held-back deletions). */
  sync: SyncEngine;
  /** The WebSocket URL agents are told to dial (known once the server listens). */
  relayUrl(): string;
  /** Every relay URL agents are given (RELAY_URL first, then RELAY_URLS), at least relayUrl(). */
  relayUrls(): string[];
}
