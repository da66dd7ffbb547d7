import { S3Client } from '@aws-sdk/client-s3';
import { SESv2Client } from '@aws-sdk/client-sesv2';

// SDK clients from the standard chain (credentials, region, AWS_ENDPOINT_URL[_S3]). With an
// explicit endpoint (moto, MinIO) path-style addressing is forced: virtual-hosted names do not
// resolve for 127.0.0.1 or localhost. Retries are the SDK's standard mode with `maxAttempts`.

export const DEFAULT_MAX_ATTEMPTS = 5;

export function s3Endpoint(): string | undefined {
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

export function makeS3Client(opts: { maxAttempts?: number; region?: string } = {}): S3Client {
  return new S3Client({
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    forcePathStyle: s3Endpoint() !== undefined,
    region: opts.region ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1'),
  });
}

/** SES v2 (digest mail); AWS_ENDPOINT_URL[_SESV2] is honoured by the SDK itself. */
export function makeSesClient(opts: { maxAttempts?: number; region?: string } = {}): SESv2Client {
  return new SESv2Client({
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    retryMode: 'standard',
    region: opts.region ?? (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1'),
  });
}
