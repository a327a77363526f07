# syntax=docker/dockerfile:1
# hallmark as a container image: a release build of exactly the dependency versions in
# Cargo.lock (the ones the tests ran with), then the binary alone on a distroless base
# (glibc, CA certificates for rustls' system roots, a non-root user, no shell).
#
#   docker build -t hallmark .
#   docker run --rm -v "$PWD:/work" -w /work hallmark verify REG/APP:v1 --key cosign.pub
#
# The base images are arguments: scripts/build-image resolves these tags to digests once and
# builds from the digests (--build-arg RUST_IMAGE=docker.io/library/rust@sha256:…), so that
# both stages use the image it checked; a mirror can be named the same way.
ARG RUST_IMAGE=docker.io/library/rust:1.90-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# hallmark: ignore[deploy-by-tag] a default for a plain docker build; scripts/build-image passes the digest
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# --locked: fail rather than build other versions than the lock names.
RUN cargo build --release --locked -p hallmark-cli \
 && install -m 0755 target/release/hallmark /hallmark \
 && /hallmark --version

# hallmark: ignore[deploy-by-tag] a default for a plain docker build; scripts/build-image passes the digest
FROM ${RUNTIME_IMAGE}
COPY --from=build /hallmark /usr/local/bin/hallmark
USER nonroot
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/hallmark"]
CMD ["--help"]
