/** Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html). */

/** One frame. `data` may span lines; each becomes its own `data:` line. */
export function sseFrame(fields: { id?: string; event?: string; data: string }): Buffer {
  let out = '';
  if (fields.id !== undefined) out += `id: ${fields.id}\n`;
  if (fields.event !== undefined) out += `event: ${fields.event}\n`;
  for (const line of fields.data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`;
  return Buffer.from(out + '\n', 'utf8');
}

export function sseRetry(ms: number): Buffer {
  return Buffer.from(`retry: ${ms}\n\n`, 'utf8');
}

/** The heartbeat: a comment line, ignored by parsers, that keeps proxies from timing out. */
export const SSE_PING = Buffer.from(': ping\n\n', 'utf8');
