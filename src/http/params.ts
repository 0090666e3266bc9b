import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';

/** Parses `req.query` with a zod schema; a 400 `invalid_query` naming the parameter otherwise. */
export function parseQuery<S extends z.ZodType>(req: Request, schema: S): z.infer<S> {
  const parsed = schema.safeParse(req.query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue?.path.join('.') || 'query';
    throw new AppError('invalid_query', `query parameter ${name}: ${issue?.message ?? 'is invalid'}`, {
      details: { issues: parsed.error.issues },
    });
  }
  return parsed.data;
}

/** Parses a JSON body; a 400 `invalid_body` with the zod issues otherwise. */
export function parseBody<S extends z.ZodType>(req: Request, schema: S): z.infer<S> {
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) {
    throw new AppError('invalid_body', z.prettifyError(parsed.error), { details: { issues: parsed.error.issues } });
  }
  return parsed.data;
}

/**
 * Text PostgreSQL can store: no NUL (SQLSTATE 22021) and no lone UTF-16
 * surrogate, so such input is a 400 here rather than an error in SQL.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const pgText = z
  .string()
  .refine((v) => !v.includes('\u0000') && !LONE_SURROGATE.test(v), 'must be text without NUL characters');

/** Row ids are text; this bounds them so garbage never reaches SQL. */
export const rowId = pgText.pipe(z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'));

export function parseId(value: unknown, what = 'id'): string {
  const parsed = rowId.safeParse(value);
  if (!parsed.success) throw new AppError('invalid_params', `${what} must be 1 to 200 characters of text`);
  return parsed.data;
}

/** A single optional string parameter (a repeated one is an error, not an array). */
export const single = z.string({ error: 'must be given once, as text' });

/** `a,b,c` → ['a','b','c'] (trimmed, no empty items, at most `max`). */
export const commaList = (max: number) =>
  single.transform((text, ctx) => {
    const items = text.split(',').map((s) => s.trim());
    if (items.some((s) => !rowId.safeParse(s).success)) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of non-empty names' });
      return z.NEVER;
    }
    if (items.length > max) {
      ctx.addIssue({ code: 'custom', message: `at most ${max} items` });
      return z.NEVER;
    }
    return items;
  });
