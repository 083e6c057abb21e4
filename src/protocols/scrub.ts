// Secrets never leave the parser: header values, query parameters, bodies and command lines are scrubbed here by
// one configurable set of rules (header names, query-parameter names, key names and value patterns).
// The process collector can call redactArgs() with the same rules for command lines.

export interface ScrubRules {
  /** Headers (lower case) whose whole value is replaced: credentials and session material. */
  headerNames: string[];
  /** A query parameter, form field, JSON key, `--flag` or `KEY=` whose name matches has its value replaced. */
  keyPattern: RegExp;
  /** Secret-looking values replaced wherever they occur (bearer tokens, JWTs, cloud keys, URL passwords). A named
   *  group `keep` is kept in front of the replacement. Patterns must stay linear: values can be 64 KiB long. */
  valuePatterns: RegExp[];
  replacement: string;
}

export const REDACTED = '[REDACTED]';

export const DEFAULT_SCRUB_RULES: ScrubRules = {
  headerNames: [
    'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'apikey', 'x-auth-token',
    'x-access-token', 'x-refresh-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token', 'x-goog-api-key',
    'private-token', 'x-vault-token', 'x-session-id', 'x-client-secret', 'www-authenticate', 'proxy-authenticate',
  ],
  keyPattern: /(token|secret|passw|pwd|api[-_]?key|apikey|auth|credential|session|signature|^sig$|^key$|^code$|jwt|cookie)/i,
  valuePatterns: [
    /\b(Bearer|Basic|Digest|Token|Negotiate)\s+[A-Za-z0-9\-._~+/=:,"]+/gi, // Authorization schemes and their credentials
    /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, // JSON Web Tokens
    /\b(AKIA|ASIA)[0-9A-Z]{16}\b/g, // AWS access key ids
    /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, // GitHub tokens
    /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
    /\bsk-[A-Za-z0-9_-]{20,}/g, // API secret keys in the sk-... style
    /(?<keep>:\/\/[^/\s:@]{0,256}:)[^/\s@]{1,256}(?=@)/g, // the password in scheme://user:password@host
  ],
  replacement: REDACTED,
};

/** Matches wherever any default value pattern could match (each begins with one of these). */
const DEFAULT_PREFILTER = /bearer|basic|digest|token|negotiate|eyJ|AKIA|ASIA|gh[pousr]_|xox|sk-|:\/\//i;

export function scrubRules(partial?: Partial<ScrubRules>): ScrubRules {
  return { ...DEFAULT_SCRUB_RULES, ...partial };
}

/** Applies one set of rules; build once per session (the header-name set is precomputed). */
export class Scrubber {
  readonly rules: ScrubRules;
  private readonly names: Set<string>;

  constructor(rules?: Partial<ScrubRules>) {
    this.rules = scrubRules(rules);
    this.names = new Set(this.rules.headerNames.map((n) => n.toLowerCase()));
    this.prefilter = this.rules.valuePatterns === DEFAULT_SCRUB_RULES.valuePatterns ? DEFAULT_PREFILTER : undefined;
  }

  private readonly prefilter: RegExp | undefined;

  isSecretHeader(name: string): boolean {
    return this.names.has(name.toLowerCase());
  }

  isSecretKey(name: string): boolean {
    this.rules.keyPattern.lastIndex = 0;
    return this.rules.keyPattern.test(name);
  }

  /** A header value as it may leave the agent. */
  header(name: string, value: string): string {
    if (this.isSecretHeader(name) || this.isSecretKey(name)) return this.rules.replacement;
    return this.text(value);
  }

  /** Free text (values, messages, user agents): secret-looking values and `key=value` secrets replaced. */
  text(s: string): string {
    return this.keyValues(this.values(s));
  }

  private values(s: string): string {
    // the default patterns all start with one of a few literals: most values match none, so skip them cheaply
    if (this.prefilter && !this.prefilter.test(s)) return s;
    let out = s;
    for (const p of this.rules.valuePatterns) {
      out = out.replace(p, (...args: unknown[]) => {
        const groups = args[args.length - 1];
        const keep = typeof groups === 'object' && groups !== null ? (groups as Record<string, string | undefined>)['keep'] : undefined;
        return (keep ?? '') + this.rules.replacement;
      });
    }
    return out;
  }

  /** `key=value`, `key: value` and `"key": "value"` pairs whose key is secret get their value replaced. */
  keyValues(s: string): string {
    if (!s.includes('=') && !s.includes(':')) return s;
    // keys start at a word boundary and are bounded, so a long run of word characters costs linear time
    return s.replace(/(?<![A-Za-z0-9_.-])(["']?)([A-Za-z0-9_.-]{1,64})\1([ \t]{0,8}[=:][ \t]{0,8})(["']?)([^"'&,;\s}]+)/g,
      (whole, q1: string, key: string, sep: string, q2: string, value: string) =>
        this.isSecretKey(key) && value !== this.rules.replacement ? `${q1}${key}${q1}${sep}${q2}${this.rules.replacement}` : whole);
  }

  /** A request target (path and query): secret query parameters and secret-looking values replaced. */
  target(target: string): string {
    const q = target.indexOf('?');
    if (q < 0) return this.text(target);
    const path = this.text(target.slice(0, q));
    const query = target.slice(q + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      let key = rawKey;
      try { key = decodeURIComponent(rawKey.replace(/\+/g, ' ')); } catch { /* keep it raw */ }
      if (eq >= 0 && this.isSecretKey(key)) return `${rawKey}=${this.rules.replacement}`;
      return eq < 0 ? pair : `${rawKey}=${this.textNoKeys(pair.slice(eq + 1))}`;
    }).join('&');
    return `${path}?${query}`;
  }

  private textNoKeys(s: string): string {
    return this.values(s);
  }

  /** Command-line arguments with secrets replaced: `--password=x`, `--token x`, `-H 'Authorization: ...'`,
   *  `-u user:pass`, URLs with `?token=` or `user:pass@`, `KEY=value` with a secret key, known token shapes. */
  args(argv: readonly string[]): string[] {
    const out: string[] = [];
    let redactNext: 'all' | 'userpass' | undefined;
    for (const arg of argv) {
      if (redactNext === 'all') { out.push(this.rules.replacement); redactNext = undefined; continue; }
      if (redactNext === 'userpass') {
        const c = arg.indexOf(':');
        out.push(c < 0 ? arg : `${arg.slice(0, c + 1)}${this.rules.replacement}`);
        redactNext = undefined;
        continue;
      }
      const flag = /^(--?)([A-Za-z][A-Za-z0-9_.-]*)(=(.*))?$/s.exec(arg);
      if (flag) {
        const [, dashes, name, eq] = flag;
        if (name === 'u' || name === 'user' || name === 'proxy-user') {
          if (eq) { const v = flag[4]!; const c = v.indexOf(':'); out.push(c < 0 ? arg : `${dashes}${name}=${v.slice(0, c + 1)}${this.rules.replacement}`); } else { out.push(arg); redactNext = 'userpass'; }
          continue;
        }
        if (this.isSecretKey(name!) || this.isSecretHeader(name!)) {
          if (eq) out.push(`${dashes}${name}=${this.rules.replacement}`); else { out.push(arg); redactNext = 'all'; }
          continue;
        }
      }
      out.push(this.arg(arg));
    }
    return out;
  }

  /** One free-standing argument: a header line, a URL or anything else. */
  private arg(arg: string): string {
    const header = /^\s*([A-Za-z0-9-]+)\s*:\s*(.*)$/s.exec(arg);
    if (header && !/^[a-z][a-z0-9+.-]*:\/\//i.test(arg) && (this.isSecretHeader(header[1]!) || this.isSecretKey(header[1]!))) {
      return `${header[1]}: ${this.rules.replacement}`;
    }
    const q = arg.indexOf('?');
    if (q >= 0 && /^([a-z][a-z0-9+.-]*:\/\/|\/)/i.test(arg)) return this.target(arg);
    return this.text(arg);
  }
}

const defaultScrubber = new Scrubber();

/** Command-line arguments with secrets redacted by the default rules (or the given ones). */
export function redactArgs(argv: string[], rules?: Partial<ScrubRules>): string[] {
  return (rules ? new Scrubber(rules) : defaultScrubber).args(argv);
}
