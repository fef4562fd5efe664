/**
 * The two questions sync asks a tenant's agent, sent through the gateway (sealed and signed like
 * any request, but not audited: they are reads, and would fill the audit log every few seconds).
 * An answer that is not `succeeded`, or whose data does not parse, stops the run.
 */
import {
  resultData,
  type Logger,
  type OperationData,
  type OperationRequest,
  type SyncAnchorsData,
  type SyncPullData,
} from '@writeback/protocol';
import type { AgentGateway } from '../gateway/gateway.js';
import { SyncRunError } from './status.js';

export type PullPage = SyncPullData & { agentId: string | null };

export interface SyncPuller {
  /** One page of changes after `cursor` (null: from the start). */
  pull(tenantId: string, cursor: string | null): Promise<PullPage>;
  /** A pull started now and awaited later; a failure is kept for the await (never unhandled). */
  prefetch(tenantId: string, cursor: string | null): Promise<PullPage>;
  /** One page of the anchors of every user the directory lists. */
  anchors(tenantId: string, cursor: string | null): Promise<SyncAnchorsData>;
}

// 1,000 anchors (GUIDs) stay well inside one frame whatever the adapter's own bound.
const ANCHORS_PAGE = 1_000;

export function createSyncPuller(gateway: AgentGateway, batchSize: number, log: Logger): SyncPuller {
  type SyncOp = 'sync.pull' | 'sync.anchors';

  /** Send one sync request; its typed data, or a SyncRunError (not succeeded, or data that does not parse). */
  async function call<Op extends SyncOp>(
    tenantId: string,
    request: OperationRequest & { op: Op },
  ): Promise<{ data: OperationData<Op>; agentId: string | null }> {
    const r = await gateway.send({ tenantId, request });
    log.debug('sync request', {
      requestId: r.requestId,
      tenantId,
      op: request.op,
      outcome: r.result.outcome,
      agentId: r.agentId,
    });
    if (r.result.outcome !== 'succeeded')
      throw new SyncRunError(r.result.outcome, `${request.op} answered ${r.result.outcome}`);
    const data = resultData(request.op, r.result);
    if (data === null)
      throw new SyncRunError('invalid_sync_answer', `the agent answered a ${request.op} with data that does not parse`);
    return { data, agentId: r.agentId };
  }

  async function pull(tenantId: string, cursor: string | null): Promise<PullPage> {
    const { data, agentId } = await call(tenantId, { op: 'sync.pull', params: { cursor, limit: batchSize } });
    return { ...data, agentId };
  }

  return {
    pull,
    prefetch(tenantId, cursor) {
      const p = pull(tenantId, cursor);
      p.catch(() => undefined);
      return p;
    },
    async anchors(tenantId, cursor) {
      const { data } = await call(tenantId, { op: 'sync.anchors', params: { cursor, limit: ANCHORS_PAGE } });
      return data;
    },
  };
}
