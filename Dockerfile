# edgecache container image: built from this repository (docker build -t edgecache .); see README "Running in production".
# Build stage: install exactly the lockfile's packages, compile TypeScript to dist/, then drop dev dependencies.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund --ignore-scripts && npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: the compiled CLI, production dependencies and static assets; runs as the image's non-root "node" user.
FROM node:20-slim
ENV NODE_ENV=production \
    EDGECACHE_HEALTH_URL=http://127.0.0.1:8788/healthz
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY dashboard ./dashboard
COPY schema ./schema
COPY packaging/edgecache.yaml /etc/edgecache/edgecache.yaml
USER node
EXPOSE 8787 8788
# Alive when the admin listener answers /healthz as the admin API (edgecache-api: admin); set EDGECACHE_HEALTH_URL
# when admin.listen is not 127.0.0.1:8788 or 0.0.0.0:8788.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.EDGECACHE_HEALTH_URL, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.headers.get('edgecache-api') === 'admin' ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/edgecache.js"]
CMD ["serve", "--config", "/etc/edgecache/edgecache.yaml"]
