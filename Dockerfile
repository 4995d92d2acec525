# syntax=docker/dockerfile:1
# Hive in a container: built from source into the Debian package, which the
# runtime stage installs (so the image has exactly the package's dependencies,
# user, paths and config). docs/deploy/README.md says how to build and run it.
#
#   docker build -t hive:0.1.0 .
#   docker run -p 8080:8080 -v hive-data:/var/lib/hive hive:0.1.0

# Debian 12 with Node.js 20 (the dashboard's web app needs 20.19 or later; Debian
# 12's own nodejs is 18); the build fetches the app's npm packages (its lockfile).
FROM node:20-bookworm AS build
WORKDIR /src
COPY scripts/deps scripts/deps
RUN apt-get update && scripts/deps && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset release -DHIVE_BUILD_TESTS=OFF \
 && cmake --build --preset release \
 && cd build/release && cpack -G DEB && mv hive_*.deb /hive.deb

FROM debian:12-slim
COPY --from=build /hive.deb /tmp/hive.deb
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/hive.deb curl \
 && rm -rf /var/lib/apt/lists/* /tmp/hive.deb
# The container's overlay: listen on every address (with security_manager, so
# every non-public route needs a key), JSON logs. Mount your own over it.
COPY deploy/container.yaml /etc/hive/container.yaml
USER hive
WORKDIR /var/lib/hive
VOLUME ["/var/lib/hive"]
EXPOSE 8080
# SIGTERM drains within drain_deadline (10 s): give `docker stop -t` more.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD curl -fsS http://127.0.0.1:8080/readyz >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/hive", "run", "-c", "/etc/hive/hive.yaml", "-c", "/etc/hive/container.yaml"]
