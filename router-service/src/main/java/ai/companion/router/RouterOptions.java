package ai.companion.router;

import ai.companion.api.ModelPaths;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;

/**
 * Configuration of a {@link RouterVerticle}. Every default is a public {@code DEFAULT_*} constant; setters
 * reject nonsense at once so that a bad config fails the deployment, not the first request.
 */
public class RouterOptions {

  public static final String DEFAULT_DATA_DIR = ModelPaths.DEFAULT_DATA_DIR;
  public static final String DEFAULT_NODE_NAME = "local";
  /** A worker whose registry entry is older than this is treated as gone (workers refresh every second). */
  public static final long DEFAULT_WORKER_STALE_MS = 5_000;
  /** How often the policy file's modification time is checked. */
  public static final long DEFAULT_POLICY_RELOAD_MS = 2_000;
  /** How long routing waits for the knowledge service's hit score before deciding without it. */
  public static final long DEFAULT_KNOWLEDGE_TIMEOUT_MS = 250;
  /** How long routing waits for the embedding of the input before falling back to the lexical profile. */
  public static final long DEFAULT_EMBED_TIMEOUT_MS = 250;
  /** Learn a domain profile from the model's own generations when it has no description. */
  public static final boolean DEFAULT_LEARN_PROFILES = true;
  /** Generations sampled per model to learn its profile. */
  public static final int DEFAULT_PROFILE_SAMPLES = 8;
  /** Tokens per sampled generation. */
  public static final int DEFAULT_PROFILE_SAMPLE_TOKENS = 64;
  /** Tokens assumed for a request without max_tokens, for the router's own load accounting. */
  public static final int DEFAULT_ASSUMED_MAX_TOKENS = 256;
  /**
   * When the hashed-word domain match is this far ahead of the runner-up, the embedding call is skipped
   * (0: always embed).
   */
  public static final double DEFAULT_LEXICAL_SHORTCUT_MARGIN = 0.0;
  /**
   * A request whose prompt beginning a worker may hold in its prompt cache (a chat's next turn) goes to that worker
   * while it holds at most this many more requests (running or queued) than the least loaded one (0: the least
   * loaded always). See {@code PrefixAffinity}.
   */
  public static final int DEFAULT_AFFINITY_SLACK = 4;
  /** Seed of the bandit's random source; 0 means a fresh seed per start. */
  public static final long DEFAULT_BANDIT_SEED = 0;

  private String dataDir = DEFAULT_DATA_DIR;
  private String nodeName = DEFAULT_NODE_NAME;
  private String policyFile;
  private long workerStaleMs = DEFAULT_WORKER_STALE_MS;
  private long policyReloadMs = DEFAULT_POLICY_RELOAD_MS;
  private long knowledgeTimeoutMs = DEFAULT_KNOWLEDGE_TIMEOUT_MS;
  private long embedTimeoutMs = DEFAULT_EMBED_TIMEOUT_MS;
  private boolean learnProfiles = DEFAULT_LEARN_PROFILES;
  private int profileSamples = DEFAULT_PROFILE_SAMPLES;
  private int profileSampleTokens = DEFAULT_PROFILE_SAMPLE_TOKENS;
  private int assumedMaxTokens = DEFAULT_ASSUMED_MAX_TOKENS;
  private int affinitySlack = DEFAULT_AFFINITY_SLACK;
  private long banditSeed = DEFAULT_BANDIT_SEED;
  private double lexicalShortcutMargin = DEFAULT_LEXICAL_SHORTCUT_MARGIN;

  public RouterOptions() {}

  public RouterOptions(RouterOptions other) {
    this(other.toJson());
  }

  public RouterOptions(JsonObject json) {
    if (json == null) return;
    if (json.containsKey("dataDir")) setDataDir(json.getString("dataDir"));
    if (json.containsKey("nodeName")) setNodeName(json.getString("nodeName"));
    if (json.containsKey("policyFile")) setPolicyFile(json.getString("policyFile"));
    if (json.containsKey("workerStaleMs")) setWorkerStaleMs(json.getLong("workerStaleMs"));
    if (json.containsKey("policyReloadMs")) setPolicyReloadMs(json.getLong("policyReloadMs"));
    if (json.containsKey("knowledgeTimeoutMs")) setKnowledgeTimeoutMs(json.getLong("knowledgeTimeoutMs"));
    if (json.containsKey("embedTimeoutMs")) setEmbedTimeoutMs(json.getLong("embedTimeoutMs"));
    if (json.containsKey("learnProfiles")) setLearnProfiles(json.getBoolean("learnProfiles"));
    if (json.containsKey("profileSamples")) setProfileSamples(json.getInteger("profileSamples"));
    if (json.containsKey("profileSampleTokens")) setProfileSampleTokens(json.getInteger("profileSampleTokens"));
    if (json.containsKey("assumedMaxTokens")) setAssumedMaxTokens(json.getInteger("assumedMaxTokens"));
    if (json.containsKey("affinitySlack")) setAffinitySlack(json.getInteger("affinitySlack"));
    if (json.containsKey("banditSeed")) setBanditSeed(json.getLong("banditSeed"));
    if (json.containsKey("lexicalShortcutMargin")) setLexicalShortcutMargin(json.getDouble("lexicalShortcutMargin"));
  }

  public JsonObject toJson() {
    return new JsonObject().put("dataDir", dataDir).put("nodeName", nodeName).put("policyFile", policyFile)
        .put("workerStaleMs", workerStaleMs).put("policyReloadMs", policyReloadMs)
        .put("knowledgeTimeoutMs", knowledgeTimeoutMs).put("embedTimeoutMs", embedTimeoutMs)
        .put("learnProfiles", learnProfiles).put("profileSamples", profileSamples)
        .put("profileSampleTokens", profileSampleTokens).put("assumedMaxTokens", assumedMaxTokens)
        .put("affinitySlack", affinitySlack)
        .put("banditSeed", banditSeed).put("lexicalShortcutMargin", lexicalShortcutMargin);
  }

  public String getDataDir() { return dataDir; }

  public RouterOptions setDataDir(String dataDir) {
    if (dataDir == null || dataDir.isBlank()) throw new IllegalArgumentException("dataDir must not be empty");
    this.dataDir = dataDir;
    return this;
  }

  public String getNodeName() { return nodeName; }

  public RouterOptions setNodeName(String nodeName) {
    if (nodeName == null || nodeName.isBlank()) throw new IllegalArgumentException("nodeName must not be empty");
    this.nodeName = nodeName;
    return this;
  }

  /** The policy file set, or null for the default {@code DATA_DIR/router/policy.yaml}. */
  public String getPolicyFile() { return policyFile; }

  public RouterOptions setPolicyFile(String policyFile) {
    this.policyFile = policyFile == null || policyFile.isBlank() ? null : policyFile;
    return this;
  }

  /** The router's own folder: {@code DATA_DIR/router}. */
  public Path routerDir() {
    return Path.of(dataDir).resolve("router");
  }

  /** The policy file in force: the one set, else {@code DATA_DIR/router/policy.yaml}. */
  public Path policyPath() {
    return policyFile != null ? Path.of(policyFile) : routerDir().resolve("policy.yaml");
  }

  /** Where plugin jars are looked for: {@code DATA_DIR/plugins}. */
  public Path pluginsDir() {
    return Path.of(dataDir).resolve("plugins");
  }

  public int getAffinitySlack() { return affinitySlack; }

  public RouterOptions setAffinitySlack(int slack) {
    if (slack < 0) throw new IllegalArgumentException("affinitySlack must be >= 0, got " + slack);
    this.affinitySlack = slack;
    return this;
  }

  public long getWorkerStaleMs() { return workerStaleMs; }

  public RouterOptions setWorkerStaleMs(long ms) {
    if (ms < 1) throw new IllegalArgumentException("workerStaleMs must be >= 1, got " + ms);
    this.workerStaleMs = ms;
    return this;
  }

  public long getPolicyReloadMs() { return policyReloadMs; }

  public RouterOptions setPolicyReloadMs(long ms) {
    if (ms < 10) throw new IllegalArgumentException("policyReloadMs must be >= 10, got " + ms);
    this.policyReloadMs = ms;
    return this;
  }

  public long getKnowledgeTimeoutMs() { return knowledgeTimeoutMs; }

  public RouterOptions setKnowledgeTimeoutMs(long ms) {
    if (ms < 1) throw new IllegalArgumentException("knowledgeTimeoutMs must be >= 1, got " + ms);
    this.knowledgeTimeoutMs = ms;
    return this;
  }

  public long getEmbedTimeoutMs() { return embedTimeoutMs; }

  public RouterOptions setEmbedTimeoutMs(long ms) {
    if (ms < 1) throw new IllegalArgumentException("embedTimeoutMs must be >= 1, got " + ms);
    this.embedTimeoutMs = ms;
    return this;
  }

  public boolean isLearnProfiles() { return learnProfiles; }

  public RouterOptions setLearnProfiles(boolean learnProfiles) {
    this.learnProfiles = learnProfiles;
    return this;
  }

  public int getProfileSamples() { return profileSamples; }

  public RouterOptions setProfileSamples(int n) {
    if (n < 1 || n > 256) throw new IllegalArgumentException("profileSamples must be in 1..256, got " + n);
    this.profileSamples = n;
    return this;
  }

  public int getProfileSampleTokens() { return profileSampleTokens; }

  public RouterOptions setProfileSampleTokens(int n) {
    if (n < 1) throw new IllegalArgumentException("profileSampleTokens must be >= 1, got " + n);
    this.profileSampleTokens = n;
    return this;
  }

  public int getAssumedMaxTokens() { return assumedMaxTokens; }

  public RouterOptions setAssumedMaxTokens(int n) {
    if (n < 1) throw new IllegalArgumentException("assumedMaxTokens must be >= 1, got " + n);
    this.assumedMaxTokens = n;
    return this;
  }

  public double getLexicalShortcutMargin() { return lexicalShortcutMargin; }

  public RouterOptions setLexicalShortcutMargin(double margin) {
    if (margin < 0 || margin > 1) throw new IllegalArgumentException("lexicalShortcutMargin must be in 0..1, got " + margin);
    this.lexicalShortcutMargin = margin;
    return this;
  }

  public long getBanditSeed() { return banditSeed; }

  public RouterOptions setBanditSeed(long seed) {
    this.banditSeed = seed;
    return this;
  }
}
