// The compaction work queue on moto as the stack runs it: a queue with its DLQ redrive, messages
// received and handed to the worker handler as the SQS event source mapping would (one record per
// invocation), deleted when the handler reports no failure.
import { CreateQueueCommand, DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from '../../lib/aws/events';
import { COMPACT_QUEUE } from '../../lib/aws/resources';

export interface WorkQueue {
  sqs: SQSClient;
  url: string;
  arn: string;
}

export async function createWorkQueue(endpoint: string, region: string): Promise<WorkQueue> {
  const sqs = new SQSClient({ region, endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `${COMPACT_QUEUE.dlqName}-${Date.now()}` }))).QueueUrl!;
  const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  const url = (
    await sqs.send(
      new CreateQueueCommand({
        QueueName: `${COMPACT_QUEUE.name}-${Date.now()}`,
        Attributes: {
          VisibilityTimeout: String(COMPACT_QUEUE.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: COMPACT_QUEUE.maxReceiveCount }),
        },
      }),
    )
  ).QueueUrl!;
  const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }))).Attributes!.QueueArn!;
  return { sqs, url, arn };
}

/** Every message waiting in the queue (received: invisible until deleted or the visibility timeout). */
export async function receiveAll(q: WorkQueue): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const r = await q.sqs.send(new ReceiveMessageCommand({ QueueUrl: q.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, AttributeNames: ['All'] }));
    if (!r.Messages || r.Messages.length === 0) return out;
    out.push(...r.Messages);
  }
}

export function sqsRecord(q: WorkQueue, m: Message): SQSRecord {
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body!,
    attributes: (m.Attributes ?? {}) as Record<string, string>,
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: q.arn,
    awsRegion: 'us-east-1',
  };
}

export type WorkerHandler = (e: SQSEvent) => Promise<SQSBatchResponse>;

/** One message through the worker, deleted from the queue when it succeeded (what the event source mapping does). */
export async function deliver(q: WorkQueue, worker: WorkerHandler, m: Message): Promise<SQSBatchResponse> {
  const r = await worker({ Records: [sqsRecord(q, m)] });
  if (r.batchItemFailures.length === 0) await q.sqs.send(new DeleteMessageCommand({ QueueUrl: q.url, ReceiptHandle: m.ReceiptHandle! }));
  return r;
}

/** Delivers until the queue is empty (messages the workers send are delivered too); returns how many were delivered. */
export async function drain(q: WorkQueue, worker: WorkerHandler): Promise<number> {
  let n = 0;
  for (let batch = await receiveAll(q); batch.length > 0; batch = await receiveAll(q)) {
    for (const m of batch) {
      const r = await deliver(q, worker, m);
      if (r.batchItemFailures.length > 0) throw new Error(`compaction worker failed on ${m.Body}`);
      n++;
    }
  }
  return n;
}
