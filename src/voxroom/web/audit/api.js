// The audit API with a bearer token: from this tab's storage, from the dev server's token
// endpoint (dev mode, loopback only), or pasted by the user (see viewer.js).

export const API = '/api/v1/audit';

export const TOKEN_KEY = 'voxroom-audit-token';

const auth = { token: null, autoTokenTried: false };

export class AuthNeeded extends Error {}

async function issueDevToken() {
  // Dev mode on loopback only: the server refuses (403) anywhere else.
  const response = await fetch('/api/v1/tokens', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ identity: 'audit-viewer', scopes: ['audit'] }),
  });
  if (!response.ok) return null;
  const body = await response.json();
  return typeof body.token === 'string' ? body.token : null;
}

async function ensureToken() {
  if (auth.token) return auth.token;
  const stored = sessionStorage.getItem(TOKEN_KEY);
  if (stored) { auth.token = stored; return stored; }
  if (!auth.autoTokenTried) {
    auth.autoTokenTried = true;
    try {
      const token = await issueDevToken();
      if (token) { useToken(token); return token; }
    } catch (_) { /* no token endpoint: ask the user */ }
  }
  throw new AuthNeeded('This server does not hand out audit tokens to the browser.');
}

export function useToken(token) {
  auth.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function dropToken() {
  auth.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
}

export async function api(path) {
  const token = await ensureToken();
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401 || response.status === 403) {
    let reason = `${response.status}`;
    try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON */ }
    dropToken();
    throw new AuthNeeded(response.status === 403
      ? `The token is not allowed to read audits (${reason}).`
      : `The token was refused (${reason}).`);
  }
  if (!response.ok) {
    let reason = response.statusText;
    try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON */ }
    const error = new Error(`${reason} (HTTP ${response.status})`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}
