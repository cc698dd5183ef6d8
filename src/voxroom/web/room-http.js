// JSON over HTTP for the room modules: the voxroom API answers errors as {"error": "..."}.

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function fetchJSON(url, { method = 'GET', body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new HttpError(res.status, await errorText(res));
  return res.json();
}

// The body's "error", else the raw text, else the status line.
async function errorText(res) {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text);
    if (parsed && parsed.error) return parsed.error;
  } catch (_) { /* not JSON */ }
  return text.trim() || `${res.status} ${res.statusText}`;
}
