# syntax=docker/dockerfile:1
# The sleep image: one static /sleep and nothing else, for every arch of
# arches.txt. Two ways to get its binary, one image definition:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t sleep .
#       builds the binary from source in the `build` stage (the default);
#
#   scripts/build && docker buildx build --build-arg SLEEP_BINARY=dist \
#       --platform linux/amd64,linux/arm64 -t sleep .
#       copies the binaries scripts/build already wrote to dist/ (the `dist`
#       stage). This is how the release image is made (scripts/image, with
#       buildah), so it holds exactly the release's dist/sleep-linux-<arch>.
#
# Either way the binary is made by scripts/build, the same command CI and a
# person at a terminal run, and the builds are reproducible: both give the
# same bytes (see dist/SHA256SUMS).

# Which stage supplies /sleep: `build` or `dist`. A stage chosen by an ARG is
# the only one built; the other is skipped (so `dist` never pulls the Rust
# image, and `build` never needs dist/).
ARG SLEEP_BINARY=build

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

# Dist stage: the binary scripts/build wrote, for the target platform, named
# as arches.txt names it (arm/v7 -> sleep-linux-arm-v7). No RUN: scratch
# has no shell, so the name is made by the builder's ${VAR:+...} expansion.
# A platform with no binary fails here with the file's name; so does a
# feature-level variant such as linux/amd64/v2, which the build stage (through
# scripts/docker-arch) serves with the baseline binary: name the baseline
# platform instead (linux/amd64), as the release does.
FROM scratch AS dist
ARG TARGETARCH
ARG TARGETVARIANT
COPY dist/sleep-linux-${TARGETARCH}${TARGETVARIANT:+-$TARGETVARIANT} /work/out/sleep

FROM ${SLEEP_BINARY} AS binary

# The image: the binary alone. No shell, no libc, no files for a user database:
# the user is numeric. The version, revision and created labels belong to a
# build, not to this file: scripts/image (and the release) pass them with --label.
# --chmod: the mode is the image's, whatever the umask of the checkout.
FROM scratch
LABEL org.opencontainers.image.title="sleep" \
      org.opencontainers.image.description="A tiny static GNU-compatible sleep for shell-less container images (preStop hooks, keep-alive containers)" \
      org.opencontainers.image.source="https://github.com/sleep-developers/sleep" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=binary --chmod=0755 /work/out/sleep /sleep
USER 65532:65532
ENTRYPOINT ["/sleep"]
CMD ["infinity"]
