// REST calls to /api/v2 with the signed-in key (session storage, sent as a
// bearer token). Errors carry the problem+json detail for the UI to show.

const TOKEN_KEY = 'hive.dashboard.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
  }
}

export const session = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

// `hive dashboard` opens /dashboard/#token=<local token> (no hive.auth/1
// provider runs, and the admin routes need the token the api writes under its
// data dir): the token becomes this tab's bearer token and leaves the address
// bar and the history. Run when this module loads, before the router reads the
// fragment.
const fragment = new URLSearchParams(location.hash.slice(1));
const localToken = fragment.get('token');
if (localToken) {
  session.signIn(localToken);
  history.replaceState(null, '', location.pathname + location.search + '#/');
}

export interface Answer<T> {
  status: number;
  body: T;
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const sent: Record<string, string> = { Accept: 'application/json', ...headers };
  const token = session.token();
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, `network error: ${(error as Error).message}`);
  }
  const text = await response.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!response.ok) {
    const problem = parsed as { detail?: string; title?: string } | null;
    if (response.status === 401) window.dispatchEvent(new CustomEvent('hive-unauthorized'));
    throw new ApiError(response.status, problem?.detail || problem?.title || response.statusText);
  }
  return { status: response.status, body: parsed as T };
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>('GET', path)).body;
}

export async function post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  return (await call<T>('POST', path, body ?? {}, headers)).body;
}
