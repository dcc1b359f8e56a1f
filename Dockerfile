# The image of the compose demo: every command of ./cmd (authserver,
# resource, demo, authctl, healthcheck) as a static binary in one small,
# non-root runtime image; docker-compose.yml picks the command per service.
# No secret is baked in: credentials come from the environment or mounted
# files at run time.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Exactly the Makefile's build (CGO_ENABLED=0, -trimpath, -ldflags='-s -w',
# into bin/), so the image and `make run` cannot drift; cmd/demo's tests
# check this line against the Makefile.
RUN make build

FROM gcr.io/distroless/static-debian12:nonroot
# OCI labels: docker build --build-arg VERSION=$(git describe --tags --always --dirty) --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=unknown
ARG REVISION=unknown
ARG SOURCE=https://github.com/example/authsvc
LABEL org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.source=$SOURCE
COPY --from=build /src/bin/ /usr/local/bin/
# The demo bootstrap (AUTH_BOOTSTRAP=/configs/demo-bootstrap.yaml): demo-only
# users and clients, public in this repository.
COPY configs/ /configs/
# nonroot is uid 65532; its home is writable, for the default sqlite:data/...
# stores of a run without a database URL.
USER nonroot:nonroot
WORKDIR /home/nonroot
EXPOSE 9096 8080
CMD ["/usr/local/bin/authserver"]
