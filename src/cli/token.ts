/** `pgfeed token --sub U --company C --role R [--ttl SECONDS]`: prints an HS256 JWT signed with JWT_SECRET. */
import { z } from 'zod';
import { Auth, role } from '../http/auth';
import { type Command, UsageError } from './command';

const tokenArgs = z.object({
  sub: z.string({ error: 'is required' }).min(1, 'is required'),
  company: z.string({ error: 'is required' }).min(1, 'is required'),
  role: z.enum(role.options, { error: `must be one of ${role.options.join(', ')}` }),
  ttl: z.string().regex(/^\d+$/, 'must be a number of seconds').transform(Number),
});

export const tokenCommand: Command = {
  summary: 'print a signed token for development (HS256, JWT_SECRET)',
  usage: `
usage: pgfeed token --sub USER --company COMPANY --role admin|cashier|customer [--ttl SECONDS]

Prints a JWT with the claims pgfeed reads (sub, company, role, exp), signed with
JWT_SECRET (HS256, at least 32 characters), valid for --ttl seconds (default 3600).

  JWT_SECRET=... pgfeed token --sub alice --company acme --role admin
  npm run -s token -- --sub alice --company acme --role admin`,
  options: {
    sub: { type: 'string' },
    company: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
  },
  async run(values, env) {
    const parsed = tokenArgs.safeParse(values);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new UsageError(`--${String(issue?.path[0] ?? '')} ${issue?.message ?? 'is invalid'}`);
    }
    const secret = env.JWT_SECRET ?? '';
    if (secret.length < 32) throw new UsageError('JWT_SECRET must be set to at least 32 characters');
    const { sub, company, role: r, ttl } = parsed.data;
    process.stdout.write(`${await new Auth(secret).sign({ sub, company, role: r }, ttl)}\n`);
    return 0;
  },
};
