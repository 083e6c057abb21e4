// Endpoint URLs as they may be shown (logs, /status, `tapio status`): without the user:password part, which some
// collectors take as basic-auth credentials. The real URL is used only to connect.

/** `http://user:secret@host/path` -> `http://***@host/path`; text that is not a URL with credentials is returned as is. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '***';
    u.password = '';
    return u.href;
  } catch {
    return redactUrlsIn(url);
  }
}

/** Every `scheme://user:pass@` inside free text (an error message quoting a URL) with the credentials masked. */
export function redactUrlsIn(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]+@/gi, '$1***@');
}
