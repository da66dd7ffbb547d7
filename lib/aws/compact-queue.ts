import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Send, WorkMessage } from '../store/compact-jobs';
import { DEFAULT_MAX_ATTEMPTS } from './clients';
import { ENV } from './resources';

// The compaction work queue (lib/infra/compaction.ts): the planner and the workers send work
// messages (lib/store/compact-jobs.ts) here, the workers' event source mapping delivers them one
// per invocation. A message is JSON text; the queue adds nothing the worker needs.

export function makeSqsClient(): SQSClient {
  return new SQSClient({ maxAttempts: DEFAULT_MAX_ATTEMPTS, retryMode: 'standard', region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1' });
}

export function compactQueueUrl(env: NodeJS.ProcessEnv = process.env): string {
  const url = env[ENV.compactQueueUrl];
  if (!url) throw new Error(`${ENV.compactQueueUrl} is not set`);
  return url;
}

/** Sends messages in SendMessageBatch calls of 10 (SQS's limit); a message SQS refuses fails the send. */
export function sqsSend(client: SQSClient, queueUrl: string): Send {
  return async (messages: readonly WorkMessage[]) => {
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      const r = await client.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: chunk.map((m, j) => ({ Id: String(j), MessageBody: JSON.stringify(m) })) }),
      );
      if (r.Failed && r.Failed.length > 0) {
        const f = r.Failed[0];
        throw new Error(`compaction queue refused ${r.Failed.length} of ${chunk.length} messages (first: ${chunk[Number(f.Id)] ? JSON.stringify(chunk[Number(f.Id)]) : f.Id}: ${f.Code} ${f.Message ?? ''})`);
      }
    }
  };
}
