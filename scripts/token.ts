/** npm run token -- --sub U --company C --role R [--ttl SECONDS]: prints a signed JWT (uses JWT_SECRET). */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { Auth, role } from '../src/http/auth';

const args = parseArgs({
  options: {
    sub: { type: 'string' },
    company: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
  },
});
const parsed = z
  .object({
    sub: z.string().min(1),
    company: z.string().min(1),
    role,
    ttl: z.string().regex(/^\d+$/).transform(Number),
    secret: z.string().min(32, 'JWT_SECRET must be set (at least 32 characters)'),
  })
  .safeParse({ ...args.values, secret: process.env.JWT_SECRET ?? '' });
if (!parsed.success) {
  const issue = parsed.error.issues[0];
  process.stderr.write(`token: ${String(issue?.path[0] ?? '')} ${issue?.message ?? 'invalid'}\n`);
  process.stderr.write('usage: npm run token -- --sub USER --company COMPANY --role admin|cashier|customer [--ttl SECONDS]\n');
  process.exit(2);
}
const { sub, company, role: r, ttl, secret } = parsed.data;
new Auth(secret).sign({ sub, company, role: r }, ttl).then((t) => process.stdout.write(`${t}\n`));
