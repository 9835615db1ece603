package ai.companion.router.impl;

import ai.companion.api.Addresses;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.companion.api.StreamEvent;
import ai.companion.api.WorkerInfo;
import ai.companion.api.spi.DomainProfile;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Domain profiles without hand labels. A model whose folder describes it (companion.json description,
 * carried in {@link ModelInfo#description()}) is profiled from that text; any other model is asked for a few
 * sampled generations from BOS through its worker, and the router embeds what the model itself writes.
 * Each profile is the unit-length mean of the texts' all-MiniLM-L6-v2 embeddings, plus a hashed bag of words
 * for when the embedding service cannot answer. Profiles are kept in {@code DATA_DIR/router/profiles.json}
 * (with the texts, so a user can see what the router believes a model does) and redone when a model's
 * identity (id, size, context, description) changes.
 *
 * <p>Runs on the router's event loop; file I/O goes through {@code executeBlocking}.
 */
public final class DomainProfiles {
  private static final Logger LOG = LoggerFactory.getLogger(DomainProfiles.class);

  static final long SAMPLE_TIMEOUT_MS = 120_000;
  public static final long EMBED_TIMEOUT_MS = 60_000;
  static final long RETRY_AFTER_MS = 30_000;
  /**
   * A model's own generations use its most frequent words, so they hold more characters per token than
   * user prompts do (measured on the fixtures: about 2.2 vs 1.4); until real prompt counts come back the
   * prompt ratio is taken as this share of the generation ratio, erring towards more tokens.
   */
  static final double GENERATION_TO_PROMPT = 0.6;
  /** Prompt tokens seen before the measured prompt ratio replaces the estimate. */
  static final long CALIBRATED_AFTER_TOKENS = 200;

  public record Settings(boolean learn, int samples, int sampleTokens) {}

  private record Stored(String key, DomainProfile profile, List<String> texts) {}

  private final Vertx vertx;
  private final Path file;
  private final Settings settings;
  private final Map<String, Stored> stored = new HashMap<>();
  private volatile Map<String, DomainProfile> snapshot = Map.of();
  private final Set<String> inFlight = new HashSet<>();
  private final Map<String, Long> lastAttempt = new HashMap<>();
  /** Per model: prompt characters and prompt tokens reported by workers (via the gateway's signals). */
  private final Map<String, long[]> promptCounts = new HashMap<>();
  private int unsavedCalibrations;

  public DomainProfiles(Vertx vertx, Path routerDir, Settings settings) {
    this.vertx = vertx;
    this.file = routerDir.resolve("profiles.json");
    this.settings = settings;
  }

  /** Profiles by model id, for the models that have one. Safe to read from any thread. */
  public Map<String, DomainProfile> snapshot() {
    return snapshot;
  }

  /** Reads the stored profiles. */
  public Future<Void> load() {
    return vertx.executeBlocking(() -> {
      if (!Files.exists(file)) return null;
      JsonObject root = new JsonObject(Files.readString(file, StandardCharsets.UTF_8));
      JsonObject cal = root.getJsonObject("promptCalibration", new JsonObject());
      for (String id : cal.fieldNames()) {
        JsonArray a = cal.getJsonArray(id);
        promptCounts.put(id, new long[] {a.getLong(0), a.getLong(1)});
      }
      JsonObject ps = root.getJsonObject("profiles", new JsonObject());
      for (String id : ps.fieldNames()) {
        JsonObject p = ps.getJsonObject(id);
        List<String> texts = p.getJsonArray("texts", new JsonArray()).stream().map(String::valueOf).toList();
        float[] emb = floats(p.getJsonArray("embedding"));
        stored.put(id, new Stored(p.getString("key"), new DomainProfile(id, emb, LexicalVector.centroid(texts),
            p.getString("source"), texts.size(), p.getDouble("charsPerToken", 0.0)), texts));
      }
      return null;
    }).recover(err -> {
      LOG.warn("Ignoring unreadable domain profiles {}: {}", file, err.toString());
      return Future.succeededFuture();
    }).onComplete(v -> publish()).mapEmpty();
  }

  static String key(ModelInfo m) {
    return m.id() + "|" + m.parameters() + "|" + m.contextLength() + "|" + (m.description() == null ? "" : m.description());
  }

  /**
   * Starts learning a profile for every served model that lacks a current one (one attempt per model at a
   * time, retried after a pause when it failed); {@code workerFor} names a worker for a model, or null.
   */
  public void refresh(List<ModelInfo> models, Function<String, WorkerInfo> workerFor,
                      Function<List<String>, Future<float[][]>> embedder) {
    long now = System.currentTimeMillis();
    for (ModelInfo m : models) {
      Stored s = stored.get(m.id());
      boolean current = s != null && s.key().equals(key(m));
      if (current && s.profile().embedding() != null) continue;
      if (inFlight.contains(m.id()) || now - lastAttempt.getOrDefault(m.id(), 0L) < RETRY_AFTER_MS) continue;
      lastAttempt.put(m.id(), now);
      inFlight.add(m.id());
      Future<Stored> f;
      if (current) {
        f = embedInto(m, s.texts(), s.profile().source(), s.profile().charsPerToken(), embedder);
      } else {
        f = learn(m, workerFor, embedder);
      }
      f.onComplete(ar -> {
        inFlight.remove(m.id());
        if (ar.failed()) {
          LOG.warn("No domain profile for model {} yet: {}", m.id(), ar.cause().getMessage());
          return;
        }
        stored.put(m.id(), ar.result());
        publish();
        DomainProfile p = ar.result().profile();
        LOG.info("Domain profile of {} from {} {} text(s){}{}", m.id(), p.samples(), p.source(),
            p.embedding() == null ? " (words only: embeddings unavailable)" : "",
            p.charsPerToken() > 0 ? String.format(" (%.2f chars/token)", p.charsPerToken()) : "");
        save();
      });
    }
  }

  /** Waits until every model in {@code ids} has a profile with an embedding, or the deadline passes. */
  public Future<Void> awaitProfiles(List<String> ids, long timeoutMs) {
    return awaitProfiles(ids, timeoutMs, true);
  }

  /** Waits until every model in {@code ids} has a profile (with an embedding when asked), or the deadline passes. */
  public Future<Void> awaitProfiles(List<String> ids, long timeoutMs, boolean withEmbedding) {
    Promise<Void> p = Promise.promise();
    long deadline = System.currentTimeMillis() + timeoutMs;
    vertx.setPeriodic(100, t -> {
      boolean all = ids.stream().allMatch(id -> snapshot.get(id) != null
          && (!withEmbedding || snapshot.get(id).embedding() != null));
      if (all) {
        vertx.cancelTimer(t);
        p.tryComplete();
      } else if (System.currentTimeMillis() > deadline) {
        vertx.cancelTimer(t);
        p.tryFail("domain profiles for " + ids + " not ready after " + timeoutMs + " ms (have " + snapshot.keySet() + ")");
      }
    });
    return p.future();
  }

  private Future<Stored> learn(ModelInfo m, Function<String, WorkerInfo> workerFor,
                               Function<List<String>, Future<float[][]>> embedder) {
    String description = m.description() == null ? "" : m.description().strip();
    if (!description.isEmpty()) {
      List<String> texts = new ArrayList<>();
      texts.add(description);
      for (String line : description.split("\\R+|(?<=[.!?])\\s+")) {
        if (line.strip().length() >= 12 && !line.strip().equals(description)) texts.add(line.strip());
      }
      return embedInto(m, texts, "description", 0, embedder);
    }
    if (!settings.learn()) return Future.failedFuture("model " + m.id() + " has no description and learning is off");
    WorkerInfo w = workerFor.apply(m.id());
    if (w == null) return Future.failedFuture("no worker serves " + m.id());
    LOG.info("Learning the domain of {} from {} sampled generations on worker {}", m.id(), settings.samples(),
        w.workerId());
    List<String> texts = new ArrayList<>();
    long[] chars = {0};
    long[] tokens = {0};
    Future<Void> chain = Future.succeededFuture();
    for (int i = 0; i < settings.samples(); i++) {
      int seed = 1000 + i;
      chain = chain.compose(v -> sample(w, m.id(), seed).map(r -> {
        if (!r.text().isBlank()) {
          texts.add(r.text().strip());
          chars[0] += r.text().length();
          tokens[0] += r.tokens();
        }
        return null;
      }));
    }
    return chain.compose(v -> {
      if (texts.isEmpty()) return Future.failedFuture("model " + m.id() + " generated only empty samples");
      double cpt = tokens[0] == 0 ? 0 : chars[0] / (double) tokens[0];
      return embedInto(m, texts, "sampled", cpt, embedder);
    });
  }

  private Future<Stored> embedInto(ModelInfo m, List<String> texts, String source, double cpt,
                                   Function<List<String>, Future<float[][]>> embedder) {
    float[] lexical = LexicalVector.centroid(texts);
    return embedder.apply(texts)
        .map(vs -> centroid(vs))
        .otherwise(err -> {
          LOG.debug("Embedding the profile of {} failed: {}", m.id(), err.toString());
          return null;
        })
        .map(emb -> new Stored(key(m), new DomainProfile(m.id(), emb, lexical, source, texts.size(), cpt), texts));
  }

  record Sample(String text, int tokens) {}

  /** One generation from BOS with temperature 1, through the worker's own protocol. */
  private Future<Sample> sample(WorkerInfo w, String model, int seed) {
    String requestId = "router-profile-" + model + "-" + seed + "-" + UUID.randomUUID().toString().substring(0, 8);
    String address = Addresses.streamAddress(requestId);
    StringBuilder text = new StringBuilder();
    Promise<Sample> done = Promise.promise();
    MessageConsumer<JsonObject> consumer = vertx.eventBus().consumer(address, msg -> {
      StreamEvent e = StreamEvent.fromJson(msg.body());
      text.append(e.text());
      if (e.type() == StreamEvent.Type.DONE) done.tryComplete(new Sample(text.toString(), e.completionTokens()));
      else if (e.type() == StreamEvent.Type.ERROR) {
        done.tryFail(ErrorCode.fromWire(e.errorCode()).exception("sample failed: " + e.errorMessage()));
      }
    });
    SamplingParams params = new SamplingParams(1.0, 0.95, 0, (long) seed, settings.sampleTokens(), List.of(), 1.0);
    GenerationRequest req = new GenerationRequest(requestId, model, "", null, params, address, List.of(),
        new JsonObject().put("purpose", "router-profile"));
    long timer = vertx.setTimer(SAMPLE_TIMEOUT_MS, t -> {
      done.tryFail("sample " + requestId + " timed out");
      vertx.eventBus().publish(Addresses.WORKER_CANCEL, new JsonObject().put("requestId", requestId));
    });
    consumer.completion()
        .compose(v -> vertx.eventBus().request(Addresses.workerGenerate(w.workerId()), req.toJson(),
            new DeliveryOptions().setSendTimeout(SAMPLE_TIMEOUT_MS)))
        .onFailure(done::tryFail);
    return done.future().onComplete(ar -> {
      vertx.cancelTimer(timer);
      consumer.unregister();
    });
  }

  static float[] centroid(float[][] vs) {
    if (vs == null || vs.length == 0) return null;
    float[] c = new float[vs[0].length];
    for (float[] v : vs) for (int i = 0; i < c.length; i++) c[i] += v[i];
    LexicalVector.normalize(c);
    return c;
  }

  /** A real prompt token count for a prompt of {@code chars} characters on {@code model}. */
  public void calibrate(String model, int chars, int promptTokens) {
    if (chars <= 0 || promptTokens <= 0) return;
    long[] c = promptCounts.computeIfAbsent(model, k -> new long[2]);
    c[0] += chars;
    c[1] += promptTokens;
    publish();
    if (++unsavedCalibrations >= 20) save();
  }

  /** Characters per prompt token on {@code model}: measured when enough is known, else estimated; 0 when unknown. */
  public double promptCharsPerToken(String model) {
    long[] c = promptCounts.get(model);
    if (c != null && c[1] >= CALIBRATED_AFTER_TOKENS) return c[0] / (double) c[1];
    Stored s = stored.get(model);
    return s == null || s.profile().charsPerToken() <= 0 ? 0 : s.profile().charsPerToken() * GENERATION_TO_PROMPT;
  }

  private void publish() {
    Map<String, DomainProfile> m = new HashMap<>();
    // the snapshot carries the prompt ratio (what routing needs); the store keeps the generation ratio
    stored.forEach((k, v) -> {
      DomainProfile p = v.profile();
      m.put(k, new DomainProfile(p.model(), p.embedding(), p.lexical(), p.source(), p.samples(),
          promptCharsPerToken(k)));
    });
    snapshot = Collections.unmodifiableMap(m);
  }

  private void save() {
    JsonObject ps = new JsonObject();
    stored.forEach((id, s) -> {
      JsonObject p = new JsonObject().put("key", s.key()).put("source", s.profile().source())
          .put("charsPerToken", s.profile().charsPerToken()).put("texts", new JsonArray(s.texts()));
      if (s.profile().embedding() != null) {
        JsonArray e = new JsonArray();
        for (float f : s.profile().embedding()) e.add(f);
        p.put("embedding", e);
      }
      ps.put(id, p);
    });
    unsavedCalibrations = 0;
    JsonObject cal = new JsonObject();
    promptCounts.forEach((id, c) -> cal.put(id, new JsonArray().add(c[0]).add(c[1])));
    String text = new JsonObject().put("version", 1).put("profiles", ps).put("promptCalibration", cal).encodePrettily();
    vertx.executeBlocking(() -> {
      Files.createDirectories(file.getParent());
      Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
      Files.writeString(tmp, text, StandardCharsets.UTF_8);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return null;
    }).onFailure(err -> LOG.warn("Cannot save domain profiles to {}: {}", file, err.toString()));
  }

  static float[] floats(JsonArray a) {
    if (a == null) return null;
    float[] f = new float[a.size()];
    for (int i = 0; i < f.length; i++) f[i] = ((Number) a.getValue(i)).floatValue();
    return f;
  }
}
