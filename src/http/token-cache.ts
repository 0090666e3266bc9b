/**
 * Verified tokens, kept until they expire, so a client that reconnects (an
 * EventSource after every network blip, a dashboard reopening its streams)
 * is not verified again: JWT verification is a tenth of the CPU of opening
 * a stream. Keyed by the whole token, signature included, so only the exact
 * token that was verified hits; bounded, least recently used first out.
 */
export class TokenCache<T extends { exp: number }> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly maxEntries: number) {}

  /** The claims of `token` if it was verified and has not expired since; undefined otherwise. */
  get(token: string, nowMs = Date.now()): T | undefined {
    const claims = this.entries.get(token);
    if (claims === undefined) return undefined;
    this.entries.delete(token);
    if (claims.exp * 1000 <= nowMs) return undefined; // expired: verified again, and refused there
    this.entries.set(token, claims); // most recently used last
    return claims;
  }

  /** Remembers a token that has just been verified. */
  set(token: string, claims: T): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    this.entries.set(token, claims);
    // A Map iterates in insertion order: the first key is the least recently used.
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
