import { webFile, type WebFile } from '../render/assets';

// The web UI's static files (docs/ui.md). They hold no data: every number the UI shows comes from
// the API routes beside them, under the same Host/Origin/token rules (lib/api/http-guard.ts). The
// Content-Security-Policy allows nothing but this origin: no CDN, no inline script, no framing.

const FILES: Record<string, { file: WebFile; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

export const UI_PATHS = Object.keys(FILES);

export const UI_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Whether a path is one of the UI's static files (no data behind it). */
export function isUiPath(path: string): boolean {
  return Object.hasOwn(FILES, path.replace(/\/+$/, '') || '/');
}

/** The router's ApiResponse shape (declared structurally: the router imports this file). */
export function uiAsset(path: string): { status: number; headers: Record<string, string>; body: Uint8Array } | undefined {
  const f = FILES[path.replace(/\/+$/, '') || '/'];
  if (!f) return undefined;
  return {
    status: 200,
    headers: {
      'content-type': f.type,
      'content-security-policy': UI_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    },
    body: new Uint8Array(webFile(f.file)),
  };
}
