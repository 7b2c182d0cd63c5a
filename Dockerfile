# A small static image running as non-root.
#   docker build -t iot-product-operator .
# CI has no container engine: it builds the same static binary with scripts/build-static.sh,
# which this file also runs.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash scripts/build-static.sh /out/iot-product-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/iot-product-operator /usr/local/bin/iot-product-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/iot-product-operator"]
CMD ["run"]
