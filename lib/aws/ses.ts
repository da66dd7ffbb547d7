import { SendEmailCommand, type SESv2Client } from '@aws-sdk/client-sesv2';
import type { DigestEmail } from '../render/email';

/** Sends a built digest (one raw MIME message) with SES v2; returns the message id. */
export async function sendRawEmail(ses: SESv2Client, email: DigestEmail, from: string, to: string[], configurationSet?: string): Promise<string | undefined> {
  const r = await ses.send(
    new SendEmailCommand({
      FromEmailAddress: from,
      Destination: { ToAddresses: to },
      Content: { Raw: { Data: email.raw } },
      ConfigurationSetName: configurationSet,
    }),
  );
  return r.MessageId;
}
