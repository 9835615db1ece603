package ai.companion.knowledge;

import ai.companion.api.ModelPaths;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Configuration of {@link KnowledgeVerticle} and {@link KnowledgeStore}. The store lives in {@code dataDir/knowledge}. */
public final class KnowledgeOptions {
  public static final String DEFAULT_DATA_DIR = ModelPaths.DEFAULT_DATA_DIR;
  /**
   * int8: every finished request logs its question with its vector, so the embedder runs on the request path's
   * cores. In a node serving 2000 streaming clients a logged question cost 1.15 ms of CPU with int8 against 2.8 ms
   * with fp32 (node CPU per request 3.7-4.0 against 4.9-5.5 ms); ingestion runs about 3x faster, and the QA set's
   * retrieval figures are the same or better (docs/benchmarks.md, "Knowledge" and "the knowledge node's MiniLM").
   */
  public static final String DEFAULT_EMBEDDING_VARIANT = "int8";
  public static final int DEFAULT_CHUNK_CHARS = 800;
  public static final int DEFAULT_CHUNK_OVERLAP_CHARS = 150;
  /** Cosine similarity of the best passage at or above which a question counts as answered (tuned on the QA set). */
  public static final double DEFAULT_ANSWER_THRESHOLD = 0.35;
  /** Cosine similarity at or above which a question joins an existing pattern cluster. */
  public static final double DEFAULT_PATTERN_THRESHOLD = 0.72;
  /** Unanswered asks of one question pattern before it shows as a gap. */
  public static final int DEFAULT_GAP_MIN_COUNT = 2;
  /** Questions the coverage figure looks back on. */
  public static final int DEFAULT_COVERAGE_WINDOW = 200;
  public static final int DEFAULT_WORKER_POOL_SIZE = 2;
  public static final int DEFAULT_MAX_DOCUMENTS_PER_REQUEST = 4096;
  public static final int DEFAULT_MAX_DOCUMENT_CHARS = 2_000_000;
  public static final int DEFAULT_MAX_K = 50;
  public static final boolean DEFAULT_GRAPH_EXPANSION = true;

  private String dataDir = DEFAULT_DATA_DIR;
  private List<String> seedPaths = new ArrayList<>();
  private String embeddingVariant = DEFAULT_EMBEDDING_VARIANT;
  private int chunkChars = DEFAULT_CHUNK_CHARS;
  private int chunkOverlapChars = DEFAULT_CHUNK_OVERLAP_CHARS;
  private double answerThreshold = DEFAULT_ANSWER_THRESHOLD;
  private double patternThreshold = DEFAULT_PATTERN_THRESHOLD;
  private int gapMinCount = DEFAULT_GAP_MIN_COUNT;
  private int coverageWindow = DEFAULT_COVERAGE_WINDOW;
  private int workerPoolSize = DEFAULT_WORKER_POOL_SIZE;
  private int maxDocumentsPerRequest = DEFAULT_MAX_DOCUMENTS_PER_REQUEST;
  private int maxDocumentChars = DEFAULT_MAX_DOCUMENT_CHARS;
  private int maxK = DEFAULT_MAX_K;
  private boolean graphExpansion = DEFAULT_GRAPH_EXPANSION;

  public KnowledgeOptions() {}

  public KnowledgeOptions(KnowledgeOptions o) {
    this(o.toJson());
  }

  public KnowledgeOptions(JsonObject json) {
    if (json == null) return;
    if (json.containsKey("dataDir")) setDataDir(json.getString("dataDir"));
    if (json.containsKey("seedPaths")) {
      Object v = json.getValue("seedPaths");
      if (!(v instanceof JsonArray arr)) throw new IllegalArgumentException("seedPaths must be a list of paths");
      List<String> paths = new ArrayList<>();
      for (Object o : arr) paths.add(String.valueOf(o));
      setSeedPaths(paths);
    }
    if (json.containsKey("embeddingVariant")) setEmbeddingVariant(json.getString("embeddingVariant"));
    if (json.containsKey("chunkChars")) setChunkChars(json.getInteger("chunkChars"));
    if (json.containsKey("chunkOverlapChars")) setChunkOverlapChars(json.getInteger("chunkOverlapChars"));
    if (json.containsKey("answerThreshold")) setAnswerThreshold(json.getDouble("answerThreshold"));
    if (json.containsKey("patternThreshold")) setPatternThreshold(json.getDouble("patternThreshold"));
    if (json.containsKey("gapMinCount")) setGapMinCount(json.getInteger("gapMinCount"));
    if (json.containsKey("coverageWindow")) setCoverageWindow(json.getInteger("coverageWindow"));
    if (json.containsKey("workerPoolSize")) setWorkerPoolSize(json.getInteger("workerPoolSize"));
    if (json.containsKey("maxDocumentsPerRequest")) setMaxDocumentsPerRequest(json.getInteger("maxDocumentsPerRequest"));
    if (json.containsKey("maxDocumentChars")) setMaxDocumentChars(json.getInteger("maxDocumentChars"));
    if (json.containsKey("maxK")) setMaxK(json.getInteger("maxK"));
    if (json.containsKey("graphExpansion")) setGraphExpansion(json.getBoolean("graphExpansion"));
  }

  public JsonObject toJson() {
    return new JsonObject().put("dataDir", dataDir).put("seedPaths", new JsonArray(new ArrayList<>(seedPaths)))
        .put("embeddingVariant", embeddingVariant).put("chunkChars", chunkChars)
        .put("chunkOverlapChars", chunkOverlapChars).put("answerThreshold", answerThreshold)
        .put("patternThreshold", patternThreshold).put("gapMinCount", gapMinCount)
        .put("coverageWindow", coverageWindow).put("workerPoolSize", workerPoolSize)
        .put("maxDocumentsPerRequest", maxDocumentsPerRequest).put("maxDocumentChars", maxDocumentChars)
        .put("maxK", maxK).put("graphExpansion", graphExpansion);
  }

  /** {@code dataDir/knowledge}. */
  public Path storeDir() { return Path.of(dataDir).resolve("knowledge"); }

  public String getDataDir() { return dataDir; }

  public KnowledgeOptions setDataDir(String dataDir) {
    if (dataDir == null || dataDir.isBlank()) throw new IllegalArgumentException("dataDir must not be empty");
    this.dataDir = dataDir;
    return this;
  }

  public List<String> getSeedPaths() { return List.copyOf(seedPaths); }

  public KnowledgeOptions setSeedPaths(List<String> seedPaths) {
    this.seedPaths = new ArrayList<>(seedPaths == null ? List.of() : seedPaths);
    return this;
  }

  public String getEmbeddingVariant() { return embeddingVariant; }

  public KnowledgeOptions setEmbeddingVariant(String v) {
    if (!"fp32".equalsIgnoreCase(v) && !"int8".equalsIgnoreCase(v)) {
      throw new IllegalArgumentException("embeddingVariant must be fp32 or int8, got " + v);
    }
    this.embeddingVariant = v.toLowerCase(java.util.Locale.ROOT);
    return this;
  }

  public int getChunkChars() { return chunkChars; }

  public KnowledgeOptions setChunkChars(int n) {
    if (n < 100 || n > 4000) throw new IllegalArgumentException("chunkChars must be in [100, 4000], got " + n);
    this.chunkChars = n;
    return this;
  }

  public int getChunkOverlapChars() { return chunkOverlapChars; }

  public KnowledgeOptions setChunkOverlapChars(int n) {
    if (n < 0) throw new IllegalArgumentException("chunkOverlapChars must be >= 0, got " + n);
    this.chunkOverlapChars = n;
    return this;
  }

  public double getAnswerThreshold() { return answerThreshold; }

  public KnowledgeOptions setAnswerThreshold(double t) {
    if (!(t > 0 && t < 1)) throw new IllegalArgumentException("answerThreshold must be in (0, 1), got " + t);
    this.answerThreshold = t;
    return this;
  }

  public double getPatternThreshold() { return patternThreshold; }

  public KnowledgeOptions setPatternThreshold(double t) {
    if (!(t > 0 && t < 1)) throw new IllegalArgumentException("patternThreshold must be in (0, 1), got " + t);
    this.patternThreshold = t;
    return this;
  }

  public int getGapMinCount() { return gapMinCount; }

  public KnowledgeOptions setGapMinCount(int n) {
    if (n < 1) throw new IllegalArgumentException("gapMinCount must be >= 1, got " + n);
    this.gapMinCount = n;
    return this;
  }

  public int getCoverageWindow() { return coverageWindow; }

  public KnowledgeOptions setCoverageWindow(int n) {
    if (n < 1) throw new IllegalArgumentException("coverageWindow must be >= 1, got " + n);
    this.coverageWindow = n;
    return this;
  }

  public int getWorkerPoolSize() { return workerPoolSize; }

  public KnowledgeOptions setWorkerPoolSize(int n) {
    if (n < 1) throw new IllegalArgumentException("workerPoolSize must be >= 1, got " + n);
    this.workerPoolSize = n;
    return this;
  }

  public int getMaxDocumentsPerRequest() { return maxDocumentsPerRequest; }

  public KnowledgeOptions setMaxDocumentsPerRequest(int n) {
    if (n < 1) throw new IllegalArgumentException("maxDocumentsPerRequest must be >= 1, got " + n);
    this.maxDocumentsPerRequest = n;
    return this;
  }

  public int getMaxDocumentChars() { return maxDocumentChars; }

  public KnowledgeOptions setMaxDocumentChars(int n) {
    if (n < 1) throw new IllegalArgumentException("maxDocumentChars must be >= 1, got " + n);
    this.maxDocumentChars = n;
    return this;
  }

  public int getMaxK() { return maxK; }

  public KnowledgeOptions setMaxK(int n) {
    if (n < 1) throw new IllegalArgumentException("maxK must be >= 1, got " + n);
    this.maxK = n;
    return this;
  }

  public boolean isGraphExpansion() { return graphExpansion; }

  public KnowledgeOptions setGraphExpansion(boolean b) {
    this.graphExpansion = b;
    return this;
  }
}
