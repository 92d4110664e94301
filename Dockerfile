# syntax=docker/dockerfile:1
# The sleep image: one static /sleep and nothing else, for every arch of
# arches.txt:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t sleep .
#
# The binary is made by scripts/build, the same command CI and a person at a
# terminal run, so the image holds the same bytes as the release's
# dist/sleep-linux-<arch> (see dist/SHA256SUMS).

# Build stage: runs on the build machine's own platform and cross-compiles
# (no emulation, and no C toolchain: every target links with rust-lld).
# The version is rust-toolchain.toml's channel; scripts/build's
# `rustup toolchain install` adds the targets and components listed there.
FROM --platform=$BUILDPLATFORM rust:1.95.0-slim-bookworm AS build
ARG TARGETARCH
ARG TARGETVARIANT
WORKDIR /work
COPY . .
# scripts/docker-arch maps TARGETARCH[/TARGETVARIANT] to our arch name and
# fails, naming the platform, for one no row of arches.txt serves.
# The binary goes to a fixed name so the final stage need not know the arch.
RUN arch="$(scripts/docker-arch "$TARGETARCH" "$TARGETVARIANT")" \
 && scripts/build "$arch" \
 && mkdir -p out \
 && cp "dist/sleep-linux-$arch" out/sleep

# The image: the binary alone. No shell, no libc, no files for a user database:
# the user is numeric.
FROM scratch
LABEL org.opencontainers.image.title="sleep" \
      org.opencontainers.image.description="A tiny static GNU-compatible sleep for shell-less container images (preStop hooks, keep-alive containers)" \
      org.opencontainers.image.source="https://github.com/sleep-developers/sleep" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /work/out/sleep /sleep
USER 65532:65532
ENTRYPOINT ["/sleep"]
CMD ["infinity"]
