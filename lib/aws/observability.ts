import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

// Powertools for AWS Lambda behind the core's one logging seam: the core reports structured
// events ({level, msg, ...fields}); here they become Powertools JSON logs, and the outcomes of
// ingestion become CloudWatch metrics (EMF) in the `fleetprof` namespace.

export type LogEntry = Record<string, unknown>;

export interface Observability {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** The sink handed to the core (IngestObjectDeps.log, digest job log, query errors). */
  log(entry: LogEntry): void;
  /** Publishes the invocation's metrics; call once at the end of each invocation. */
  flush(): void;
}

/** Ingest outcomes the core logs as `msg`, counted as metrics of the same name. */
const COUNTED = new Set(['ingested', 'quarantined', 'skipped']);

export function lambdaObservability(service: 'ingest' | 'query' | 'digest'): Observability {
  const logger = new Logger({ serviceName: `fleetprof-${service}` });
  const metrics = new Metrics({ namespace: 'fleetprof', serviceName: service });
  return {
    logger,
    metrics,
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
      if (COUNTED.has(message)) {
        metrics.addMetric(`objects_${message}`, MetricUnit.Count, 1);
        if (typeof fields.ms === 'number') metrics.addMetric('object_ms', MetricUnit.Milliseconds, fields.ms);
      } else if (message.startsWith('transient failure')) {
        metrics.addMetric('objects_retried', MetricUnit.Count, 1);
      } else if (message === 'request' && typeof fields.ms === 'number') {
        metrics.addMetric('request_ms', MetricUnit.Milliseconds, fields.ms);
      }
    },
    flush() {
      metrics.publishStoredMetrics();
    },
  };
}
