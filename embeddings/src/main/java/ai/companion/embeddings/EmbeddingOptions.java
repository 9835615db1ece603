package ai.companion.embeddings;

import io.vertx.core.json.JsonObject;

/** Configuration of {@link EmbeddingVerticle}. */
public final class EmbeddingOptions {
  public static final String DEFAULT_VARIANT = "fp32";
  /** Threads that run ORT for this verticle; ORT itself also parallelises inside one run. */
  public static final int DEFAULT_WORKER_POOL_SIZE = 2;
  /** Most texts in one request (OpenAI allows 2048). */
  public static final int DEFAULT_MAX_INPUTS = 2048;
  /** Most characters in one request, all texts together; each text is cut at 256 tokens anyway. */
  public static final int DEFAULT_MAX_TOTAL_CHARS = 4_000_000;

  private MiniLmEmbedder.Variant variant = MiniLmEmbedder.Variant.parse(DEFAULT_VARIANT);
  private int workerPoolSize = DEFAULT_WORKER_POOL_SIZE;
  private int maxInputs = DEFAULT_MAX_INPUTS;
  private int maxTotalChars = DEFAULT_MAX_TOTAL_CHARS;

  public EmbeddingOptions() {}

  public EmbeddingOptions(EmbeddingOptions other) {
    this.variant = other.variant;
    this.workerPoolSize = other.workerPoolSize;
    this.maxInputs = other.maxInputs;
    this.maxTotalChars = other.maxTotalChars;
  }

  public EmbeddingOptions(JsonObject json) {
    this();
    if (json == null) return;
    if (json.containsKey("variant")) setVariant(MiniLmEmbedder.Variant.parse(json.getString("variant")));
    if (json.containsKey("workerPoolSize")) setWorkerPoolSize(json.getInteger("workerPoolSize"));
    if (json.containsKey("maxInputs")) setMaxInputs(json.getInteger("maxInputs"));
    if (json.containsKey("maxTotalChars")) setMaxTotalChars(json.getInteger("maxTotalChars"));
  }

  public JsonObject toJson() {
    return new JsonObject().put("variant", variant.label()).put("workerPoolSize", workerPoolSize)
        .put("maxInputs", maxInputs).put("maxTotalChars", maxTotalChars);
  }

  public MiniLmEmbedder.Variant getVariant() { return variant; }

  public EmbeddingOptions setVariant(MiniLmEmbedder.Variant variant) {
    if (variant == null) throw new IllegalArgumentException("variant must not be null");
    this.variant = variant;
    return this;
  }

  public int getWorkerPoolSize() { return workerPoolSize; }

  public EmbeddingOptions setWorkerPoolSize(int n) {
    if (n < 1) throw new IllegalArgumentException("workerPoolSize must be >= 1, got " + n);
    this.workerPoolSize = n;
    return this;
  }

  public int getMaxInputs() { return maxInputs; }

  public EmbeddingOptions setMaxInputs(int n) {
    if (n < 1) throw new IllegalArgumentException("maxInputs must be >= 1, got " + n);
    this.maxInputs = n;
    return this;
  }

  public int getMaxTotalChars() { return maxTotalChars; }

  public EmbeddingOptions setMaxTotalChars(int n) {
    if (n < 1) throw new IllegalArgumentException("maxTotalChars must be >= 1, got " + n);
    this.maxTotalChars = n;
    return this;
  }
}
