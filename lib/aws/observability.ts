import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { LambdaContext } from './events';

// Powertools for AWS Lambda behind the core's one logging seam: the core reports structured
// events ({level, msg, ...fields}); here they become Powertools JSON logs (with the Lambda
// context: request id, function name, cold start). Outcomes are counted as CloudWatch metrics
// (EMF, namespace `fleetprof`) by the handlers calling `count`, never by reading log text.

export type LogEntry = Record<string, unknown>;

/** What the ingest handler counts per object: `objects_<outcome>`. */
export type ObjectOutcomeMetric = 'ingested' | 'quarantined' | 'skipped' | 'retried';

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Call first in each invocation: the Lambda context goes into every log line. */
  start(context?: LambdaContext): void;
  /** The sink handed to the core (IngestObjectDeps.log, digest job log, query errors). */
  log(entry: LogEntry): void;
  /** One object's outcome, with its handling time when known. */
  countObject(outcome: ObjectOutcomeMetric, ms?: number): void;
  /** One API request's time. */
  timeRequest(ms: number): void;
  /** Publishes the invocation's metrics; call once at the end of each invocation. */
  flush(): void;
}

export function lambdaObservability(service: 'ingest' | 'query' | 'digest' | 'compact' | 'compact-worker' | 'merge'): Observability {
  const logger = new Logger({ serviceName: `fleetprof-${service}` });
  const metrics = new Metrics({ namespace: 'fleetprof', serviceName: service });
  return {
    logger,
    metrics,
    start(context) {
      if (context) logger.addContext(context as Parameters<Logger['addContext']>[0]);
    },
    log(entry) {
      const { level, msg, ...fields } = entry;
      const message = String(msg ?? '');
      switch (String(level ?? 'INFO').toUpperCase()) {
        case 'ERROR':
          logger.error(message, fields);
          break;
        case 'WARN':
          logger.warn(message, fields);
          break;
        case 'DEBUG':
          logger.debug(message, fields);
          break;
        default:
          logger.info(message, fields);
      }
    },
    countObject(outcome, ms) {
      metrics.addMetric(`objects_${outcome}`, MetricUnit.Count, 1);
      if (ms !== undefined && outcome !== 'retried') metrics.addMetric('object_ms', MetricUnit.Milliseconds, ms);
    },
    timeRequest(ms) {
      metrics.addMetric('request_ms', MetricUnit.Milliseconds, ms);
    },
    flush() {
      metrics.publishStoredMetrics();
    },
  };
}
