# One image with every Auditstream command; docker-compose.yml picks the command.
FROM golang:1.26 AS build
WORKDIR /src
# As the Makefile: the Datadog client's faster JSON encoder (see the README).
ENV GOFLAGS=-tags=goccy_gojson
COPY . .
RUN for m in router sinks stack ddintake; do (cd $m && CGO_ENABLED=0 GOBIN=/out go install ./cmd/...); done
# The producer CLI is a module of its own (see producer/cmd/producer/go.mod).
RUN cd producer/cmd/producer && CGO_ENABLED=0 GOBIN=/out go install .

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/ /usr/local/bin/
USER nonroot
