/** Public surface of @writeback/relay: the agent hub, its in-process and NATS RelayClients. */
export * from './client.js';
export * from './errors.js';
export {
  createRelayHub,
  sortPresence,
  WS_MAX_PAYLOAD,
  type RelayHub,
  type RelayHubOptions,
  type PresenceEvent,
} from './hub.js';
export {
  startNatsBridge,
  createNatsRelayClient,
  createDeferredRelayClient,
  createNatsGate,
  serveAgentGate,
  agentRequestSubject,
  tenantPresenceSubject,
  AgentPresenceSchema,
  RelayAnswerSchema,
  type NatsBridge,
  type PublishFailures,
  type PublishKind,
  type NatsRelayClientOptions,
  type NatsSubjectOptions,
} from './nats.js';
export {
  createNatsLink,
  type NatsConnect,
  type NatsDialer,
  type NatsLink,
  type NatsLinkOptions,
  type NatsLinkState,
} from './nats-link.js';
export { loadRelayConfig, type RelayConfig } from './config.js';
