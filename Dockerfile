# Herald's image: the release binary, the built web client and the example
# cluster configs (config/cluster). docker-compose.yml builds and runs it;
# alone:
#
#   docker build -t herald .
#   docker run -p 15674:15674 -e HERALD_SERVER__HTTP_LISTEN=0.0.0.0:15674 herald
#
# The container runs `herald serve` as an unprivileged user with its data
# in /var/lib/herald; settings come from --config files and HERALD_*
# variables.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin herald

FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci
COPY web/ ./
RUN npm run build

FROM debian:bookworm-slim
RUN useradd --system --home-dir /var/lib/herald herald \
    && mkdir -p /var/lib/herald /var/lib/herald-files \
    && chown herald:herald /var/lib/herald /var/lib/herald-files
COPY --from=build /src/target/release/herald /usr/local/bin/herald
COPY --from=web /web/dist /usr/share/herald/web/dist
COPY config/cluster /etc/herald
# server.web_dir ("web/dist") is relative to the working directory.
WORKDIR /usr/share/herald
ENV HERALD_SERVER__DATA_DIR=/var/lib/herald
USER herald
EXPOSE 15674 61613
ENTRYPOINT ["herald"]
CMD ["serve"]
