import type { ExportedProfile } from '../detect/digest-profiles';
import type { EmailAttachment, EmailLink } from './email';

// Which of a digest's profiles ride in the email and which are only linked: SES v2 takes raw
// messages up to 10 MB, and base64 makes attachments a third larger.

export const DEFAULT_MAX_ATTACH_BYTES = 7 * 1024 * 1024;

/** Attach the profiles while they fit the budget; link the rest (their archived copy). */
export function splitAttachments(profiles: ExportedProfile[], maxBytes: number, linkOf: (p: ExportedProfile) => string | undefined): { attachments: EmailAttachment[]; links: EmailLink[] } {
  const attachments: EmailAttachment[] = [];
  const links: EmailLink[] = [];
  let used = 0;
  for (const p of profiles) {
    if (used + p.bytes.length <= maxBytes) {
      attachments.push({ filename: p.filename, contentType: 'application/gzip', content: p.bytes });
      used += p.bytes.length;
    } else {
      const url = linkOf(p);
      if (url) links.push({ label: `${p.service} ${p.kind} profile (window, too big to attach)`, url });
    }
  }
  return { attachments, links };
}
