# mailseal in a container: the static binary on a small Debian, as a non-root
# user, state on a volume.
#
# The binary is built on the host first (there is no Go in the image, so the
# same file builds with or without access to an image registry):
#
#   make build/mailseal          # CGO_ENABLED=0 go build … -o build/mailseal
#   docker build -t mailseal .
#
# The base is the public debian:bookworm-slim; on a machine without a registry,
# scripts/deps.d/50-base-image.sh builds an image under that tag with
# debootstrap. docker-compose.yml builds this file for you.
FROM debian:bookworm-slim

# ca-certificates: the system roots (trust.system_roots) that inbound
# signatures from public CAs chain to.
RUN apt-get update -qq \
	&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null \
	&& rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
	&& useradd --system --user-group --home-dir /var/lib/mailseal --no-create-home \
		--shell /usr/sbin/nologin mailseal \
	&& install -d -o mailseal -g mailseal -m 0700 /var/lib/mailseal \
	&& install -d -m 0755 /etc/mailseal

COPY build/mailseal /usr/sbin/mailseal
COPY docker/mailseal.yaml /etc/mailseal/mailseal.yaml

# Every MAILSEAL_* variable overrides the key of the same name in the file.
ENV MAILSEAL_CONFIG=/etc/mailseal/mailseal.yaml

# The SQLite store, the built-in CA, the master key and the copy ledger: keep
# this volume, back it up (docs/operations.md).
VOLUME ["/var/lib/mailseal"]
USER mailseal
WORKDIR /var/lib/mailseal

# 8891 milter, 8892 admin HTTP (/healthz, /metrics, /ca.pem), 8893 socketmap.
EXPOSE 8891 8892 8893

# /healthz over bash's /dev/tcp: no HTTP client in the image. Healthy means
# the admin server answers 200 (store readable, CA loaded).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
	CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8892 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]

ENTRYPOINT ["/usr/sbin/mailseal"]
CMD ["serve"]
