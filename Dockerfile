# Build with the official Swift image, run on slim Debian with just the runtime libraries.
FROM swift:6.2-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev libopenblas-dev zlib1g-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product montecluster --static-swift-stdlib \
 && mkdir /out && cp .build/release/montecluster /out/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 libopenblas0-pthread zlib1g ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* && useradd --system --create-home montecluster
COPY --from=build /out/montecluster /usr/local/bin/montecluster
USER montecluster
VOLUME /data
EXPOSE 8080
# Inside a container the server must listen on all interfaces to be reachable through the published port,
# so it requires API tokens and refuses to start until one exists in the data volume:
#   docker run -v mc:/data IMAGE tokens create --name me     (prints the token once)
#   docker run -v mc:/data -p 8080:8080 IMAGE                 (clients send Authorization: Bearer <token>)
ENV MONTECLUSTER_HOST=0.0.0.0 MONTECLUSTER_PORT=8080 MONTECLUSTER_DATA_DIR=/data
ENTRYPOINT ["montecluster"]
CMD ["serve"]
