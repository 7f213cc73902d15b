# syntax=docker/dockerfile:1
# cross-account-api-operator: release build on Debian bookworm, run on distroless cc (glibc,
# libgcc, ca-certificates; no shell) as the unprivileged "nonroot" user.

# ---- build ----------------------------------------------------------------------------------
# The toolchain of rust-toolchain.toml (testenv/checks/test_image.py holds the two together).
FROM rust:1.95.0-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit. Stub targets stand in for the real sources.
COPY rust-toolchain.toml Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# The real sources. COPY keeps the files' own mtimes, which may be older than the stub build's
# artifacts: touch them so cargo rebuilds the crate itself (and never ships the stub).
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && cp target/release/cross-account-api-operator /cross-account-api-operator \
 && /cross-account-api-operator --version

# ---- runtime --------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="cross-account-api-operator" \
      org.opencontainers.image.description="Serves a private API Gateway REST API of one AWS account through a regional API of another" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /cross-account-api-operator /cross-account-api-operator
# distroless's "nonroot" user, by number: Kubernetes' runAsNonRoot can only verify a numeric USER.
USER 65532:65532
# glibc gives each thread that contends for the heap an arena of its own (up to eight per core),
# each keeping what is freed into it for later: two serve a controller that mostly waits on the
# network (BENCHMARKS.md "Memory"; `./dev bench` runs the binary with this image's ENV).
ENV MALLOC_ARENA_MAX=2
EXPOSE 8080
ENTRYPOINT ["/cross-account-api-operator"]
CMD ["run"]
