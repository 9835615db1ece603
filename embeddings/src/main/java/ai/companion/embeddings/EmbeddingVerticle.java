package ai.companion.embeddings;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.spi.Embedder;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves {@link Addresses#EMBEDDINGS_EMBED}: request {@code {"input": "text" | ["text", ...], "model"?: name}},
 * reply {@code {"model":"all-MiniLM-L6-v2","data":[[384 floats]...],"prompt_tokens":N}}. Bad input fails the
 * message with {@link ErrorCode#INVALID_REQUEST}, an unknown model with {@link ErrorCode#MODEL_NOT_FOUND}.
 * ORT runs on a named worker pool, never on the event loop.
 */
public class EmbeddingVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(EmbeddingVerticle.class);

  /** Names a request may use for this model ({@code null} or absent also means it). */
  private static final Set<String> ACCEPTED_MODELS = Set.of(
      MiniLmEmbedder.MODEL.toLowerCase(Locale.ROOT), "sentence-transformers/all-minilm-l6-v2", "auto");

  private EmbeddingOptions options;
  private Embedder embedder;
  private WorkerExecutor pool;

  @Override
  public Future<?> start() {
    try {
      options = new EmbeddingOptions(config());
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    pool = vertx.createSharedWorkerExecutor("embeddings-onnx", options.getWorkerPoolSize());
    return pool.executeBlocking(() -> MiniLmEmbedder.shared(options.getVariant()))
        .compose(e -> {
          embedder = e;
          return vertx.eventBus().<JsonObject>consumer(Addresses.EMBEDDINGS_EMBED, this::onEmbed).completion();
        })
        .onSuccess(v -> LOG.info("Embeddings serving {} ({}) on {}", MiniLmEmbedder.MODEL,
            options.getVariant().label(), Addresses.EMBEDDINGS_EMBED));
  }

  @Override
  public Future<?> stop() {
    // the shared embedder outlives this verticle (other verticles of the node may use it)
    if (pool != null) pool.close();
    return Future.succeededFuture();
  }

  private void onEmbed(Message<JsonObject> msg) {
    List<String> texts;
    try {
      texts = parse(msg.body());
    } catch (CompanionException e) {
      msg.fail(e.failureCode(), e.getMessage());
      return;
    }
    long t0 = System.nanoTime();
    pool.executeBlocking(() -> embedder.embedWithUsage(texts), false).onComplete(ar -> {
      if (ar.failed()) {
        LOG.warn("embedding {} texts failed", texts.size(), ar.cause());
        msg.fail(ErrorCode.INTERNAL.wire(), "embedding failed: " + ar.cause().getMessage());
        return;
      }
      Embedder.Result r = ar.result();
      JsonArray data = new JsonArray();
      for (float[] v : r.vectors()) {
        JsonArray row = new JsonArray(new ArrayList<>(v.length));
        for (float f : v) row.add(f);
        data.add(row);
      }
      LOG.debug("embedded {} texts, {} tokens in {} ms", texts.size(), r.promptTokens(),
          (System.nanoTime() - t0) / 1_000_000);
      msg.reply(new JsonObject().put("model", MiniLmEmbedder.MODEL).put("data", data)
          .put("prompt_tokens", r.promptTokens()));
    });
  }

  /** Validates a request body into the texts to embed. */
  List<String> parse(JsonObject body) {
    if (body == null) throw invalid("request body must be a JSON object", null);
    Object model = body.getValue("model");
    if (model != null) {
      if (!(model instanceof String m)) throw invalid("'model' must be a string", "model");
      if (!ACCEPTED_MODELS.contains(m.toLowerCase(Locale.ROOT))) {
        throw new CompanionException(ErrorCode.MODEL_NOT_FOUND,
            "The embedding model '" + m + "' does not exist; this node serves " + MiniLmEmbedder.MODEL, "model");
      }
    }
    Object input = body.getValue("input");
    List<String> texts = new ArrayList<>();
    if (input == null) {
      throw invalid("'input' is required: a string or an array of strings", "input");
    } else if (input instanceof String s) {
      texts.add(s);
    } else if (input instanceof JsonArray arr) {
      if (arr.isEmpty()) throw invalid("'input' must not be an empty array", "input");
      if (arr.size() > options.getMaxInputs()) {
        throw invalid("'input' has " + arr.size() + " items; at most " + options.getMaxInputs() + " are allowed",
            "input");
      }
      for (int i = 0; i < arr.size(); i++) {
        Object o = arr.getValue(i);
        if (o instanceof Number || o instanceof JsonArray) {
          throw invalid("'input' as token ids is not supported; send text", "input");
        }
        if (!(o instanceof String s)) throw invalid("'input[" + i + "]' must be a string", "input");
        texts.add(s);
      }
    } else {
      throw invalid("'input' must be a string or an array of strings", "input");
    }
    long chars = 0;
    for (int i = 0; i < texts.size(); i++) {
      if (texts.get(i).isEmpty()) {
        throw invalid(texts.size() == 1 ? "'input' must not be empty" : "'input[" + i + "]' must not be empty",
            "input");
      }
      chars += texts.get(i).length();
    }
    if (chars > options.getMaxTotalChars()) {
      throw invalid("'input' has " + chars + " characters; at most " + options.getMaxTotalChars()
          + " are allowed per request", "input");
    }
    return texts;
  }

  private static CompanionException invalid(String message, String param) {
    return new CompanionException(ErrorCode.INVALID_REQUEST, message, param);
  }
}
