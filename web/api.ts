// Calls to the API this page was served with (same origin). A server started with a token
// (non-loopback binds) answers 401 until the page sends it: the user pastes it once per tab
// (sessionStorage), never in the URL, so shared links carry no secret.

const TOKEN_KEY = 'fleetprof-token';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, params?: URLSearchParams, signal?: AbortSignal): Promise<T> {
  const url = path + (params && params.toString() ? '?' + params.toString() : '');
  for (let attempt = 0; ; attempt++) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(url, { signal, headers: token ? { authorization: `Bearer ${token}` } : {} });
    if (res.status === 401 && attempt === 0) {
      const t = prompt('This fleetprof serve needs its token (printed when it started):');
      if (t) {
        sessionStorage.setItem(TOKEN_KEY, t.trim());
        continue;
      }
    }
    const body = await res.text();
    if (!res.ok) {
      let msg = body;
      try {
        msg = (JSON.parse(body) as { error: string }).error;
      } catch {
        /* not JSON: the text itself */
      }
      throw new ApiError(`${path}: ${msg}`, res.status);
    }
    return JSON.parse(body) as T;
  }
}
