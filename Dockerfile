# The image the k8s manifests run (ai-companion/companion:0.1.0): the node CLI and its libraries, no sources.
#   docker build -t ai-companion/companion:0.1.0 .
#   docker run --rm -p 8080:8080 -v companion-data:/data ai-companion/companion:0.1.0 start --host 0.0.0.0
# Models are not baked in: import them into the data volume (/data/models), e.g.
#   docker run --rm -v companion-data:/data -v $PWD/models:/in ai-companion/companion:0.1.0 \
#     model import /in/stories260K.bin --tokenizer /in/tok512.bin --name stories260K

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY . .
# the node module and what it depends on; the stamp tells ./companion that this build is current
RUN mvn -q -B -DskipTests install -pl cluster-config -am \
 && touch cluster-config/target/.companion-build-stamp

FROM eclipse-temurin:17-jre
WORKDIR /app
COPY --from=build /src/companion /app/companion
COPY --from=build /src/node-jvm.options /src/hazelcast-jvm.options /app/
COPY --from=build /src/cluster-config/target/classes /app/cluster-config/target/classes
COPY --from=build /src/cluster-config/target/lib /app/cluster-config/target/lib
COPY --from=build /src/cluster-config/target/.companion-build-stamp /app/cluster-config/target/.companion-build-stamp
# the knowledge role seeds itself from the project's own documents
COPY --from=build /src/README.md /app/README.md
COPY --from=build /src/docs /app/docs
ENV COMPANION_DATA_DIR=/data
VOLUME /data
EXPOSE 8080 9090 8081 5701 5702
ENTRYPOINT ["/app/companion"]
CMD ["start", "--host", "0.0.0.0"]
