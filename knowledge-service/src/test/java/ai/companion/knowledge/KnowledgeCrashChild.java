package ai.companion.knowledge;

import ai.companion.api.Addresses;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The child JVM of {@link KnowledgeCrashIT}: a real knowledge verticle on a data dir, ingesting over the event bus
 * in a loop until it is killed. Protocol on stdout, one line each, flushed: {@code READY}, {@code SEND id version}
 * before a request, {@code ACK id version} after its durable acknowledgement, {@code IACK interactionId} after a
 * logged question. Every few steps it replaces an earlier id, so a crash can also hit a replacement.
 */
public final class KnowledgeCrashChild {
  private KnowledgeCrashChild() {}

  static final String[] TOPICS = {"lighthouses", "glaciers", "volcanoes", "orchards", "harbours", "comets", "deserts",
      "bridges", "forests", "rivers"};

  /** The text of one version of a document; the version marker is a word only this version contains. */
  static String text(String id, int version) {
    String topic = TOPICS[Math.floorMod(id.hashCode(), TOPICS.length)];
    StringBuilder sb = new StringBuilder("# Notes on " + topic + " " + id + "\n\n");
    for (int p = 0; p < 4; p++) {
      sb.append("This paragraph ").append(p).append(" of ").append(id).append(" is about ").append(topic)
          .append(" and carries the marker ").append(marker(id, version)).append(". ")
          .append("Researchers measured how ").append(topic).append(" change over the seasons, and they wrote down ")
          .append("every observation in a long field journal that fills several pages with careful sketches.\n\n");
    }
    return sb.toString();
  }

  static String marker(String id, int version) {
    return "mark" + id.replaceAll("[^A-Za-z0-9]", "") + "v" + version;
  }

  public static void main(String[] args) throws Exception {
    String dataDir = args[0];
    long seed = Long.parseLong(args[1]);
    String prefix = args[2];
    Random random = new Random(seed);
    Vertx vertx = Vertx.vertx();
    vertx.deployVerticle(new KnowledgeVerticle(), new DeploymentOptions()
        .setConfig(new KnowledgeOptions().setDataDir(dataDir).setChunkChars(400).toJson()))
        .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    System.out.println("READY");
    System.out.flush();
    DeliveryOptions slow = new DeliveryOptions().setSendTimeout(120_000);
    int[] versions = new int[10_000];
    for (int step = 0; ; step++) {
      int n = step;
      if (step > 3 && random.nextInt(4) == 0) n = random.nextInt(step);   // replace an earlier document
      String id = prefix + "-" + n;
      int version = ++versions[n];
      System.out.println("SEND " + id + " " + version);
      System.out.flush();
      JsonObject body = new JsonObject().put("documents", new JsonArray().add(new JsonObject().put("id", id)
          .put("text", text(id, version)).put("format", "markdown")));
      JsonObject ack = vertx.eventBus().<JsonObject>request(Addresses.KNOWLEDGE_INGEST, body, slow)
          .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS).body();
      if (!ack.getJsonArray("ingested").contains(id)) throw new IllegalStateException("bad ack " + ack);
      System.out.println("ACK " + id + " " + version);
      System.out.flush();
      if (step % 3 == 0) {
        JsonObject in = vertx.eventBus().<JsonObject>request(Addresses.KNOWLEDGE_INTERACTION,
            new JsonObject().put("question", "What did the notes " + id + " say about the seasons?").put("route", "crash-test"), slow)
            .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS).body();
        System.out.println("IACK " + in.getString("interaction_id"));
        System.out.flush();
      }
    }
  }
}
