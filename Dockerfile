# syntax=docker/dockerfile:1
# pgfeed: `docker build -t pgfeed .`, then see compose.yaml (PostgreSQL, two instances, a proxy).
ARG NODE_IMAGE=node:22-bookworm-slim

# Build: compile TypeScript with the dev dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies, the compiled code and the SQL migrations only
# (test/image.test.ts assembles this same file set and runs it).
FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="pgfeed" \
      org.opencontainers.image.description="PostgreSQL changes as live, resumable Server-Sent Event streams" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"
ENV NODE_ENV=production PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY sql ./sql
# The patched driver pgfeed loads (vendor/postgres/README.md).
COPY vendor ./vendor
USER node
EXPOSE 8080
# Ready = the listener is LISTENing and caught up (not merely alive); /readyz is on OPS_PORT when that is set.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.OPS_PORT || process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and receives SIGTERM itself: streams end, the database closes, exit 0.
# DATABASE_URL and JWT_SECRET (or JWKS_URL) are required: the image has no embedded PostgreSQL.
# `start` creates nothing outside schema pgfeed; `demo` adds the demo application.
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["start"]
