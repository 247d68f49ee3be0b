# One image for every process role: `npm run api`, `npm run worker`, `npm run simulator` (docker-compose.yml).
FROM node:20-bookworm
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY . .
# The roles never start a Temporal server (TEMPORAL_ADDRESS is required for api and worker).
CMD ["npm", "run", "api"]
