# One image with every Auditstream command; docker-compose.yml and the Helm
# chart (deploy/helm/auditstream) pick the command.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --match 'v*') -t auditstream:VERSION .
#
# Base images by exact tag. They were not pulled here (no registry is
# reachable from the development machines); the tags are the ones the Go and
# distroless projects document. Pin by digest (@sha256:...) once pulled.
FROM golang:1.26.8 AS build
ARG VERSION=dev
WORKDIR /src
# As the Makefile: the Datadog client's faster JSON encoder (see the README).
# Each module builds on its own go.mod (GOWORK=off), so the deployment
# tests' Kubernetes and Helm dependencies never reach the image's build.
ENV GOFLAGS=-tags=goccy_gojson GOWORK=off CGO_ENABLED=0
COPY . .
RUN --mount=type=cache,target=/root/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    for m in router sinks stack ddintake producer/cmd/producer; do \
      (cd $m && GOBIN=/out go install -trimpath ./...) || exit 1; \
    done && \
    (cd deploy && GOBIN=/out go install -trimpath ./cmd/healthcheck)

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="auditstream" \
      org.opencontainers.image.description="Audit events from Kafka to S3 and Datadog Logs" \
      org.opencontainers.image.source="https://github.com/auditstream/auditstream" \
      org.opencontainers.image.version="${VERSION}"
ENV AUDITSTREAM_VERSION=${VERSION}
COPY --from=build /out/ /usr/local/bin/
# distroless's nonroot user, by number so that Kubernetes' runAsNonRoot can
# check it without resolving a name.
USER 65532:65532
