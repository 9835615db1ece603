package ai.companion.knowledge;

import ai.companion.api.Addresses;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.spi.Embedder;
import ai.companion.embeddings.MiniLmEmbedder;
import ai.companion.knowledge.impl.Learning;
import ai.companion.knowledge.impl.QuestionVectors;
import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.WorkerExecutor;
import io.vertx.core.eventbus.Message;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.Executor;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The knowledge service on the event bus. Every request may carry {@code "tenant"} (set by the gateway from the
 * API key; absent means {@code "public"}); a tenant sees its own documents and the public ones, never another's.
 *
 * <pre>
 * companion.knowledge.ingest      {"documents":[{"id","title"?,"text","format"?: text|markdown|html}], "tenant"?}
 *                              -> {"ingested":[ids]}            only after a durable Lucene commit
 * companion.knowledge.search      {"q","k"?: 5, "graph"?: true, "log"?: false, "tenant"?}
 *                              -> {"results":[{"document_id","chunk_id","title","heading","text","score","similarity",
 *                                  "graph":[..]}],"best_score","facts":[..],"interaction_id"? (when log)}
 * companion.knowledge.answer      {"question", "graph"?: true, "log"?: true, "request_id"?, "tenant"?}
 *                              -> {"answer","answered","best_score","citations":[{"n","document_id","chunk_id","title",
 *                                  "sentence","score"}],"facts":[..],"interaction_id"?}
 * companion.knowledge.gaps        {"limit"?: 20, "tenant"?}
 *                              -> {"gaps":[{"question","count","best_score","examples"}],"coverage","recent_questions"}
 * companion.knowledge.patterns    {"limit"?: 20, "tenant"?}  -> {"patterns":[{"id","question","count","examples","unanswered"}]}
 * companion.knowledge.interaction {"question","route"?,"answer"?,"best_score"?,"scores"?,"request_id"?,"tenant"?}
 *                              -> {"interaction_id","best_score","answered"}
 * companion.knowledge.feedback    {"interaction_id","rating": 1|0|-1,"comment"?,"promote"?: false,"answer"?,"tenant"?}
 *                              -> {"interaction_id","recorded":true,"promoted_document_id"?}
 * companion.knowledge.stats       {} -> {"documents","chunks","entities","edges","questions","coverage","open_gaps"}
 * </pre>
 * Bad requests fail with {@link ErrorCode#INVALID_REQUEST}, unknown interactions with {@link ErrorCode#NOT_FOUND}.
 * All Lucene, embedding and log work runs on the {@code knowledge} worker pool.
 */
public class KnowledgeVerticle extends VerticleBase {
  private static final Logger LOG = LoggerFactory.getLogger(KnowledgeVerticle.class);
  public static final int DEFAULT_K = 5;
  public static final int DEFAULT_LIMIT = 20;
  public static final int MAX_QUESTION_CHARS = 10_000;
  /** Open questions re-checked against the store after each ingestion. */
  public static final int MAX_GAP_RECHECKS = 100;

  private final Embedder injected;
  private KnowledgeOptions options;
  private KnowledgeStore store;
  private Learning learning;
  private QuestionVectors questionVectors;
  private Executor embedDrains;
  private ExtractiveAnswerer answerer;
  private WorkerExecutor pool;

  /** Embeds with the node's shared all-MiniLM-L6-v2 of the configured variant. */
  public KnowledgeVerticle() {
    this(null);
  }

  /** Embeds with the given embedder (the caller keeps ownership). */
  public KnowledgeVerticle(Embedder embedder) {
    this.injected = embedder;
  }

  @Override
  public Future<?> start() {
    try {
      options = new KnowledgeOptions(config());
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    pool = vertx.createSharedWorkerExecutor("knowledge", options.getWorkerPoolSize());
    return pool.executeBlocking(() -> {
      Embedder e = injected != null ? injected
          : MiniLmEmbedder.shared(MiniLmEmbedder.Variant.parse(options.getEmbeddingVariant()));
      store = KnowledgeStore.open(options, e);
      questionVectors = new QuestionVectors(e, QuestionVectors.DEFAULT_CAPACITY);
      embedDrains = drain -> pool.executeBlocking(() -> {
        drain.run();
        return null;
      }, false).onFailure(questionVectors::failWaiting);
      learning = new Learning(options.storeDir().resolve("interactions.jsonl"), options.getPatternThreshold(),
          options.getAnswerThreshold(), options.getGapMinCount(), options.getCoverageWindow());
      answerer = new ExtractiveAnswerer(store, options.getAnswerThreshold());
      try {
        seedIfEmpty();
      } catch (IOException | RuntimeException seedFailure) {   // seeding is a convenience: the service still starts
        LOG.warn("Seeding the knowledge store failed; it starts empty", seedFailure);
      }
      recheckGaps();
      return null;
    }).compose(v -> {
      var bus = vertx.eventBus();
      return Future.all(List.of(
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_INGEST, m -> handle(m, this::ingest)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_SEARCH, m -> handle(m, this::search)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_ANSWER, m -> handle(m, this::answer)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_GAPS, m -> handle(m, this::gaps)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_PATTERNS, m -> handle(m, this::patterns)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_INTERACTION, m -> handleAsync(m, this::interaction))
              .completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_FEEDBACK, m -> handle(m, this::feedback)).completion(),
          bus.<JsonObject>consumer(Addresses.KNOWLEDGE_STATS, m -> handle(m, this::stats)).completion()));
    }).onSuccess(v -> LOG.info("Knowledge service ready at {}", options.storeDir()));
  }

  @Override
  public Future<?> stop() {
    if (pool == null) return Future.succeededFuture();
    return pool.executeBlocking(() -> {
      if (learning != null) learning.close();
      if (store != null) store.close();
      return null;
    }).onComplete(ar -> pool.close());
  }

  /** The store, for in-process callers (tests, benchmarks). Blocking API. */
  public KnowledgeStore store() { return store; }

  // ------------------------------------------------------------------------------------------ dispatch

  /** Parses on the event loop (cheap), runs the work on the pool, maps failures to typed codes. */
  private void handle(Message<JsonObject> msg, Function<JsonObject, Callable<JsonObject>> op) {
    handleAsync(msg, body -> pool.executeBlocking(op.apply(body), false));
  }

  /**
   * As {@link #handle}, for an operation that composes its own blocking steps: {@code op} parses on the event loop
   * and may throw there (a typed code or invalid_request); its future's failure is mapped the same way.
   */
  private void handleAsync(Message<JsonObject> msg, Function<JsonObject, Future<JsonObject>> op) {
    Future<JsonObject> work;
    try {
      if (msg.body() == null) throw new IllegalArgumentException("request body must be a JSON object");
      work = op.apply(msg.body());
    } catch (CompanionException e) {
      msg.fail(e.failureCode(), e.getMessage());
      return;
    } catch (IllegalArgumentException | ClassCastException e) {
      msg.fail(ErrorCode.INVALID_REQUEST.wire(), e.getMessage());
      return;
    }
    work.onComplete(ar -> {
      if (ar.succeeded()) {
        msg.reply(ar.result());
      } else if (ar.cause() instanceof CompanionException ce) {
        msg.fail(ce.failureCode(), ce.getMessage());
      } else if (ar.cause() instanceof IllegalArgumentException ia) {
        msg.fail(ErrorCode.INVALID_REQUEST.wire(), ia.getMessage());
      } else {
        LOG.error("knowledge request on {} failed", msg.address(), ar.cause());
        msg.fail(ErrorCode.INTERNAL.wire(), "knowledge service error: " + ar.cause().getMessage());
      }
    });
  }

  private static String tenant(JsonObject body) {
    Object t = body.getValue("tenant");
    if (t == null) return KnowledgeStore.PUBLIC;
    if (!(t instanceof String s)) throw new IllegalArgumentException("'tenant' must be a string");
    KnowledgeStore.checkTenant(s);
    return s;
  }

  private static String requiredString(JsonObject body, String... names) {
    for (String n : names) {
      Object v = body.getValue(n);
      if (v == null) continue;
      if (!(v instanceof String s)) throw new IllegalArgumentException("'" + n + "' must be a string");
      if (s.isBlank()) throw new IllegalArgumentException("'" + n + "' must not be empty");
      if (s.length() > MAX_QUESTION_CHARS) {
        throw new IllegalArgumentException("'" + n + "' is longer than " + MAX_QUESTION_CHARS + " characters");
      }
      return s;
    }
    throw new IllegalArgumentException("'" + names[0] + "' is required");
  }

  private static int intParam(JsonObject body, String name, int def, int min, int max) {
    Object v = body.getValue(name);
    if (v == null) return def;
    int i;
    if (v instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())) {
      i = n.intValue();
    } else if (v instanceof String s && s.matches("-?\\d{1,9}")) {
      i = Integer.parseInt(s);   // query-string values arrive as text
    } else {
      throw new IllegalArgumentException("'" + name + "' must be an integer");
    }
    if (i < min || i > max) throw new IllegalArgumentException("'" + name + "' must be in [" + min + ", " + max + "], got " + i);
    return i;
  }

  private static boolean boolParam(JsonObject body, String name, boolean def) {
    Object v = body.getValue(name);
    if (v == null) return def;
    if (v instanceof Boolean b) return b;
    if (v instanceof String s && (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false"))) return Boolean.parseBoolean(s);
    throw new IllegalArgumentException("'" + name + "' must be true or false");
  }

  // ------------------------------------------------------------------------------------------ operations

  private Callable<JsonObject> ingest(JsonObject body) {
    String tenant = tenant(body);
    Object docsV = body.getValue("documents");
    if (!(docsV instanceof JsonArray docs)) throw new IllegalArgumentException("'documents' must be an array");
    if (docs.isEmpty()) throw new IllegalArgumentException("'documents' must not be empty");
    if (docs.size() > options.getMaxDocumentsPerRequest()) {
      throw new IllegalArgumentException("'documents' has " + docs.size() + " items; at most "
          + options.getMaxDocumentsPerRequest() + " per request");
    }
    List<KnowledgeStore.SourceDocument> list = new ArrayList<>();
    for (int i = 0; i < docs.size(); i++) {
      String at = "documents[" + i + "]";
      if (!(docs.getValue(i) instanceof JsonObject d)) throw new IllegalArgumentException("'" + at + "' must be an object");
      Object id = d.getValue("id");
      if (!(id instanceof String ids) || ids.isBlank()) throw new IllegalArgumentException("'" + at + ".id' must be a non-empty string");
      if (ids.length() > 512) throw new IllegalArgumentException("'" + at + ".id' is longer than 512 characters");
      Object text = d.getValue("text");
      if (!(text instanceof String ts)) throw new IllegalArgumentException("'" + at + ".text' must be a string");
      if (ts.isBlank()) throw new IllegalArgumentException("'" + at + ".text' must not be empty");
      Object title = d.getValue("title");
      if (title != null && !(title instanceof String)) throw new IllegalArgumentException("'" + at + ".title' must be a string");
      Object format = d.getValue("format", "text");
      if (!(format instanceof String fs) || !List.of("text", "markdown", "html").contains(fs.toLowerCase(Locale.ROOT))) {
        throw new IllegalArgumentException("'" + at + ".format' must be text, markdown or html");
      }
      list.add(new KnowledgeStore.SourceDocument(ids, (String) title, ts, fs.toLowerCase(Locale.ROOT)));
    }
    return () -> {
      List<String> ids = store.ingest(tenant, list);
      recheckGaps();
      return new JsonObject().put("ingested", new JsonArray(new ArrayList<>(ids)));
    };
  }

  private Callable<JsonObject> search(JsonObject body) {
    String tenant = tenant(body);
    String q = requiredString(body, "q", "query");
    int k = intParam(body, "k", DEFAULT_K, 1, options.getMaxK());
    boolean graph = boolParam(body, "graph", options.isGraphExpansion());
    boolean log = boolParam(body, "log", false);
    return () -> {
      KnowledgeStore.SearchResult r = store.search(tenant, q, k, graph);
      // the router searches a question before it is answered; logging it afterwards reuses this vector
      questionVectors.remember(q, r.queryVector());
      // facts about the entities the question names, for knowledge strategies that prompt a generating model
      JsonObject out = new JsonObject().put("results", hitsJson(r.hits())).put("best_score", r.bestSimilarity())
          .put("facts", new JsonArray(graph ? store.facts(tenant, r.seeds(), 8) : List.of()));
      if (log) {
        Learning.Interaction in = learning.recordQuestion(tenant, q, "search", r.queryVector(), r.bestSimilarity(),
            r.hits().stream().map(KnowledgeStore.Hit::similarity).toList(), null, null);
        out.put("interaction_id", in.id);
      }
      return out;
    };
  }

  private Callable<JsonObject> answer(JsonObject body) {
    String tenant = tenant(body);
    String q = requiredString(body, "question", "q");
    boolean graph = boolParam(body, "graph", options.isGraphExpansion());
    boolean log = boolParam(body, "log", true);
    String requestId = body.getValue("request_id") instanceof String s ? s : null;
    return () -> {
      ExtractiveAnswerer.Answer a = answerer.answer(tenant, q, graph);
      questionVectors.remember(q, a.retrieval().queryVector());
      JsonArray cites = new JsonArray();
      for (ExtractiveAnswerer.Citation c : a.citations()) {
        cites.add(new JsonObject().put("n", c.n()).put("document_id", c.documentId()).put("chunk_id", c.chunkId())
            .put("title", c.title()).put("sentence", c.sentence()).put("score", c.score()));
      }
      JsonObject out = new JsonObject().put("answer", a.text()).put("answered", a.answered())
          .put("best_score", a.bestScore()).put("citations", cites).put("facts", new JsonArray(a.facts()))
          .put("results", hitsJson(a.retrieval().hits()));
      if (log) {
        Learning.Interaction in = learning.recordQuestion(tenant, q, "extractive", a.retrieval().queryVector(),
            a.bestScore(), a.retrieval().hits().stream().map(KnowledgeStore.Hit::similarity).toList(),
            a.answered() ? a.text() : null, requestId);
        out.put("interaction_id", in.id);
      }
      return out;
    };
  }

  private Callable<JsonObject> gaps(JsonObject body) {
    String tenant = tenant(body);
    int limit = intParam(body, "limit", DEFAULT_LIMIT, 1, 1000);
    return () -> {
      JsonArray gaps = new JsonArray();
      for (Learning.Gap g : learning.gaps(tenant, limit)) {
        gaps.add(new JsonObject().put("question", g.question()).put("count", g.count())
            .put("best_score", g.bestScore()).put("examples", new JsonArray(g.examples())));
      }
      double cov = learning.coverage(tenant);
      return new JsonObject().put("gaps", gaps).put("coverage", Double.isNaN(cov) ? null : cov)
          .put("recent_questions", learning.recentQuestions(tenant));
    };
  }

  private Callable<JsonObject> patterns(JsonObject body) {
    String tenant = tenant(body);
    int limit = intParam(body, "limit", DEFAULT_LIMIT, 1, 1000);
    return () -> {
      JsonArray out = new JsonArray();
      for (Learning.Pattern p : learning.patterns(tenant, limit)) {
        out.add(new JsonObject().put("id", p.id()).put("question", p.question()).put("count", p.count())
            .put("examples", new JsonArray(p.examples())).put("unanswered", p.unanswered()));
      }
      return new JsonObject().put("patterns", out);
    };
  }

  private Future<JsonObject> interaction(JsonObject body) {
    String tenant = tenant(body);
    String q = requiredString(body, "question", "q");
    String route = body.getValue("route") == null ? "unknown" : String.valueOf(body.getValue("route"));
    Object answerV = body.getValue("answer");
    if (answerV != null && !(answerV instanceof String)) throw new IllegalArgumentException("'answer' must be a string");
    Object bestV = body.getValue("best_score");
    if (bestV != null && !(bestV instanceof Number)) throw new IllegalArgumentException("'best_score' must be a number");
    List<Double> scores = new ArrayList<>();
    Object scoresV = body.getValue("scores");
    if (scoresV != null) {
      if (!(scoresV instanceof JsonArray arr)) throw new IllegalArgumentException("'scores' must be an array of numbers");
      for (Object o : arr) {
        if (!(o instanceof Number n)) throw new IllegalArgumentException("'scores' must be an array of numbers");
        scores.add(n.doubleValue());
      }
    }
    String requestId = body.getValue("request_id") instanceof String s ? s : null;
    // the vector first: questions that arrive together are embedded together (QuestionVectors), without holding
    // a pool thread each while they wait
    return Future.fromCompletionStage(questionVectors.ofAsync(q, embedDrains), vertx.getOrCreateContext())
        .compose(v -> pool.executeBlocking(() -> {
          // the caller's retrieval scores may come from elsewhere; the gap logic needs this store's own view
          double best = bestV != null ? ((Number) bestV).doubleValue() : store.bestSimilarity(tenant, v);
          Learning.Interaction in = learning.recordQuestion(tenant, q, route, v, best, scores, (String) answerV,
              requestId);
          return new JsonObject().put("interaction_id", in.id).put("best_score", best)
              .put("answered", best >= options.getAnswerThreshold());
        }, false));
  }

  private Callable<JsonObject> feedback(JsonObject body) {
    String tenant = tenant(body);
    String id = requiredString(body, "interaction_id");
    int rating;
    Object r = body.getValue("rating");
    if (r == null && body.getValue("positive") instanceof Boolean b) rating = b ? 1 : -1;
    else if (r instanceof Number n && Math.abs(n.intValue()) <= 1 && n.doubleValue() == n.intValue()) rating = n.intValue();
    else throw new IllegalArgumentException("'rating' must be 1 (good), 0 or -1 (bad)");
    String comment = body.getValue("comment") instanceof String s ? s : null;
    boolean promote = boolParam(body, "promote", false);
    Object answerV = body.getValue("answer");
    if (answerV != null && !(answerV instanceof String)) throw new IllegalArgumentException("'answer' must be a string");
    return () -> {
      Learning.Interaction in = learning.interaction(id);
      if (in == null || !in.tenant.equals(tenant)) {
        throw new CompanionException(ErrorCode.NOT_FOUND, "no interaction '" + id + "'", "interaction_id");
      }
      // check a promotion before recording anything, so a refused request changes nothing
      String answer = answerV != null ? (String) answerV : in.answer;
      if (promote && rating <= 0) {
        throw new CompanionException(ErrorCode.INVALID_REQUEST,
            "only answers with positive feedback (rating 1) can be promoted into knowledge", "promote");
      }
      if (promote && (answer == null || answer.isBlank())) {
        throw new CompanionException(ErrorCode.INVALID_REQUEST,
            "interaction '" + id + "' has no answer to promote; send 'answer'", "answer");
      }
      learning.recordFeedback(id, rating, comment);
      JsonObject out = new JsonObject().put("interaction_id", id).put("recorded", true);
      if (promote) {
        String docId = "promoted/" + id;
        store.ingest(in.tenant, List.of(new KnowledgeStore.SourceDocument(docId, in.question,
            "Question: " + in.question + "\n\nAnswer: " + answer, "text")));
        learning.recordPromotion(id, docId);
        recheckGaps();
        out.put("promoted_document_id", docId);
      }
      return out;
    };
  }

  private Callable<JsonObject> stats(JsonObject body) {
    return () -> {
      KnowledgeStore.Stats s = store.stats();
      double cov = learning.coverage(null);
      return new JsonObject().put("documents", s.documents()).put("chunks", s.chunks()).put("entities", s.entities())
          .put("edges", s.edges()).put("embedder", store.embedder().id()).put("questions", learning.questions())
          .put("coverage", Double.isNaN(cov) ? null : cov).put("recent_questions", learning.recentQuestions(null))
          .put("open_gaps", learning.openGaps())
          .put("question_vectors", new JsonObject().put("remembered", questionVectors.size())
              .put("hits", questionVectors.hits()).put("misses", questionVectors.misses())
              .put("batches", questionVectors.batches()));
    };
  }

  static JsonArray hitsJson(List<KnowledgeStore.Hit> hits) {
    JsonArray out = new JsonArray();
    for (KnowledgeStore.Hit h : hits) {
      out.add(new JsonObject().put("document_id", h.documentId()).put("chunk_id", h.chunkId())
          .put("title", h.title()).put("heading", h.heading()).put("text", h.text()).put("score", h.score())
          .put("similarity", h.similarity()).put("graph", new JsonArray(new ArrayList<>(h.graph()))));
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------ background duties

  /** Closes every gap that the store can now answer. Blocking. */
  private void recheckGaps() throws IOException {
    // the most asked first, and a bounded number, so that ingestion stays fast with many open questions
    List<Learning.Gap> open = new ArrayList<>(learning.openCandidates());
    open.sort((a, b) -> Integer.compare(b.count(), a.count()));
    for (Learning.Gap g : open.subList(0, Math.min(open.size(), MAX_GAP_RECHECKS))) {
      if (g.question() == null) continue;
      double best = store.bestSimilarity(g.tenant(), g.question());
      if (best >= options.getAnswerThreshold()) learning.closeGap(g.clusterId(), best);
    }
  }

  /** First start: an empty store ingests the configured files into the public space. Blocking. */
  private void seedIfEmpty() throws IOException {
    if (options.getSeedPaths().isEmpty() || !store.isEmpty()) return;
    List<KnowledgeStore.SourceDocument> docs = new ArrayList<>();
    for (String p : options.getSeedPaths()) {
      Path root = Path.of(p).toAbsolutePath().normalize();
      if (!Files.exists(root)) {
        LOG.warn("Seed path {} does not exist; skipped", root);
        continue;
      }
      Path base = root.getParent() == null ? root : root.getParent();
      List<Path> files;
      try (Stream<Path> walk = Files.walk(root)) {
        files = walk.filter(Files::isRegularFile).sorted().toList();
      }
      for (Path f : files) {
        String format = formatOf(f);
        if (format == null) continue;
        String id = base.relativize(f).toString().replace('\\', '/');
        try {
          docs.add(new KnowledgeStore.SourceDocument(id, null, Files.readString(f), format));
        } catch (IOException e) {   // not UTF-8, unreadable: seeding is best effort, the node still starts
          LOG.warn("Seed file {} skipped: {}", f, e.toString());
        }
      }
    }
    if (docs.isEmpty()) return;
    long t0 = System.nanoTime();
    for (int i = 0; i < docs.size(); i += 16) store.ingest(KnowledgeStore.PUBLIC, docs.subList(i, Math.min(docs.size(), i + 16)));
    LOG.info("Seeded the empty knowledge store with {} documents in {} ms", docs.size(), (System.nanoTime() - t0) / 1_000_000);
  }

  static String formatOf(Path f) {
    String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
    if (n.endsWith(".md") || n.endsWith(".markdown")) return "markdown";
    if (n.endsWith(".html") || n.endsWith(".htm")) return "html";
    if (n.endsWith(".txt") || n.endsWith(".text") || n.endsWith(".rst") || n.endsWith(".adoc")) return "text";
    return null;
  }
}
