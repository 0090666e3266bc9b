/** `pgfeed token --sub U --company C --role R [--ttl SECONDS]`: prints an HS256 JWT signed with JWT_SECRET. */
import { z } from 'zod';
import { configSchema } from '../config';
import { Auth, authOptions } from '../http/auth';
import { type Command, UsageError } from './command';

const tokenArgs = z.object({
  sub: z.string({ error: 'is required' }).min(1, 'is required'),
  company: z.string({ error: 'is required' }).min(1, 'is required'),
  role: z.string({ error: 'is required' }).min(1, 'is required'),
  ttl: z.string().regex(/^\d+$/, 'must be a number of seconds').transform(Number),
});

/** The settings that shape a token (where its claims go, its iss and aud). */
const tokenSettings = configSchema.pick({ JWT_TENANT_CLAIM: true, JWT_ROLES_CLAIM: true, JWT_ISSUER: true, JWT_AUDIENCE: true });

export const tokenCommand: Command = {
  summary: 'print a signed token for development (HS256, JWT_SECRET)',
  usage: `
usage: pgfeed token --sub USER --company COMPANY --role ROLE [--ttl SECONDS]

Prints a JWT with the claims pgfeed reads (sub, company, role, exp), signed with
JWT_SECRET (HS256, at least 32 characters), valid for --ttl seconds (default 3600).
The tenant and the role go where JWT_TENANT_CLAIM and JWT_ROLES_CLAIM say; iss and
aud are JWT_ISSUER and JWT_AUDIENCE when set. The demo's roles: admin, cashier, customer.

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
    const settings = tokenSettings.safeParse(
      Object.fromEntries(Object.keys(tokenSettings.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : []))),
    );
    if (!settings.success) {
      const issue = settings.error.issues[0];
      throw new UsageError(`${String(issue?.path[0] ?? '')} ${issue?.message ?? 'is invalid'}`);
    }
    const { sub, company, role, ttl } = parsed.data;
    process.stdout.write(`${await new Auth(secret, authOptions(settings.data)).sign({ sub, company, role }, ttl)}\n`);
    return 0;
  },
};
