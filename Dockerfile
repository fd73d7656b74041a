# syntax=docker/dockerfile:1
# Build: a static binary (pure Go: SQLite through modernc.org/sqlite, no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/enkisys/chorus/internal/app.Version=${VERSION}" -o /out/chorus ./cmd/chorus \
 && mkdir -p /out/data

# Run: distroless static, non-root. The web app is embedded in the binary.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/chorus /usr/local/bin/chorus
COPY --from=build --chown=65532:65532 /out/data /data
ENV CHORUS_DATA_DIR=/data \
    CHORUS_HTTP_ADDR=:8080 \
    CHORUS_ROLES=all
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/chorus"]
