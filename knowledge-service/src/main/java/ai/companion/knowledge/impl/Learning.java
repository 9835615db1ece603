package ai.companion.knowledge.impl;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the knowledge service learns from use. Every interaction (question, route, retrieval scores, answer) and
 * every feedback is appended to {@code interactions.jsonl} and fsynced before the call returns; on start the log
 * is replayed, so patterns, gaps and coverage survive restarts and crashes (a torn last line is cut off).
 *
 * <p>Patterns: online leader clustering of question embeddings per tenant. A question joins the nearest cluster
 * whose centroid is at least {@code patternThreshold} similar, else it starts one. Gaps: clusters whose questions
 * were asked at least {@code gapMinCount} times with a best retrieval similarity under {@code answerThreshold};
 * a gap closes when a re-check finds an answer (or an ask of it is answered well), and reopens on a new miss.
 *
 * <p>The log stays bounded: once it passes {@link #DEFAULT_COMPACT_AT_BYTES} (at open or while appending) and the
 * state it replays to would take less than half its bytes, it is rewritten as that state (each pattern with its
 * vector sum and centroid, the interactions kept in memory, the coverage windows, the question count) and swapped in
 * atomically: a crash leaves the old file or the new one, and replaying either gives the same state. Logged
 * questions carry their 384-float vectors (about 2.4 kB a line), the snapshot keeps one per pattern.
 *
 * <p>Thread-safe (one lock); blocking (file I/O): call from worker threads.
 */
public final class Learning implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(Learning.class);
  private static final int MAX_EXAMPLES = 5;
  private static final int MAX_INTERACTIONS_IN_MEMORY = 100_000;

  /** A log past this size is compacted where that at least halves it. */
  public static final long DEFAULT_COMPACT_AT_BYTES = 64L << 20;

  private final Path file;
  private FileChannel channel;
  private final long compactAtBytes;
  private long nextCompactAt;
  private final double patternThreshold;
  private final double answerThreshold;
  private final int gapMinCount;
  private final int coverageWindow;

  private final Map<String, List<Cluster>> clusters = new HashMap<>();   // tenant -> clusters
  private final Map<String, Cluster> clusterById = new HashMap<>();
  private final Map<String, ArrayDeque<Boolean>> recent = new HashMap<>();   // tenant -> recent answered flags
  private final ArrayDeque<Boolean> recentAll = new ArrayDeque<>();
  private final LinkedHashMap<String, Interaction> interactions = new LinkedHashMap<>() {
    @Override protected boolean removeEldestEntry(Map.Entry<String, Interaction> e) {
      return size() > MAX_INTERACTIONS_IN_MEMORY;
    }
  };
  private long questions;

  /** One logged question. */
  public static final class Interaction {
    public final String id;
    public final String tenant;
    public final String question;
    public final String route;
    public final double bestScore;
    public final String answer;
    public final String clusterId;
    public int feedback;   // sum of ratings
    public String promotedAs;

    Interaction(String id, String tenant, String question, String route, double bestScore, String answer,
                String clusterId) {
      this.id = id;
      this.tenant = tenant;
      this.question = question;
      this.route = route;
      this.bestScore = bestScore;
      this.answer = answer;
      this.clusterId = clusterId;
    }
  }

  /** A question pattern. */
  public static final class Cluster {
    public final String id;
    public final String tenant;
    final float[] sum;
    float[] centroid;
    public int count;
    public final List<String> examples = new ArrayList<>();
    public int misses;            // unanswered asks since the gap last closed
    public double bestMissScore = -1;
    public String missQuestion;   // the first unanswered wording since the gap last closed
    public long lastSeen;
    public boolean gapOpen;

    Cluster(String id, String tenant, float[] v) {
      this.id = id;
      this.tenant = tenant;
      this.sum = v.clone();
      this.centroid = v.clone();
    }
  }

  /** An open gap, as the API shows it. */
  public record Gap(String clusterId, String tenant, String question, int count, double bestScore,
                    List<String> examples) {}

  /** A pattern, as the API shows it. */
  public record Pattern(String id, String question, int count, List<String> examples, int unanswered) {}

  public Learning(Path file, double patternThreshold, double answerThreshold, int gapMinCount, int coverageWindow)
      throws IOException {
    this(file, patternThreshold, answerThreshold, gapMinCount, coverageWindow, DEFAULT_COMPACT_AT_BYTES);
  }

  /** As the other constructor, compacting the log once it passes {@code compactAtBytes}. */
  public Learning(Path file, double patternThreshold, double answerThreshold, int gapMinCount, int coverageWindow,
                  long compactAtBytes) throws IOException {
    this.file = file;
    this.compactAtBytes = compactAtBytes;
    this.patternThreshold = patternThreshold;
    this.answerThreshold = answerThreshold;
    this.gapMinCount = gapMinCount;
    this.coverageWindow = coverageWindow;
    Files.createDirectories(file.getParent());
    long good = replay();
    channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    if (channel.size() > good) {
      LOG.warn("Cutting a torn record off {} ({} bytes after offset {})", file, channel.size() - good, good);
      channel.truncate(good);
      channel.force(true);
    }
    channel.position(good);
    nextCompactAt = compactAtBytes;
    maybeCompact();
    LOG.info("Interaction log {}: {} questions, {} patterns, {} open gaps", file, questions, clusterById.size(),
        clusterById.values().stream().filter(c -> isGap(c)).count());
  }

  private long replay() throws IOException {
    if (!Files.exists(file)) return 0;
    byte[] all = Files.readAllBytes(file);
    long good = 0;
    int start = 0;
    for (int i = 0; i < all.length; i++) {
      if (all[i] != '\n') continue;
      String line = new String(all, start, i - start, StandardCharsets.UTF_8);
      try {
        apply(new JsonObject(line));
      } catch (DecodeException | IllegalArgumentException | NullPointerException | ClassCastException e) {
        LOG.warn("Stopping replay of {} at a bad record at offset {}: {}", file, start, e.toString());
        return start;
      }
      start = i + 1;
      good = start;
    }
    return good;   // bytes after the last newline are a record the crash interrupted
  }

  private void apply(JsonObject r) {
    switch (r.getString("type")) {
      case "question" -> applyQuestion(r);
      case "feedback" -> {
        Interaction in = interactions.get(r.getString("interaction_id"));
        if (in != null) in.feedback += r.getInteger("rating");
      }
      case "promoted" -> {
        Interaction in = interactions.get(r.getString("interaction_id"));
        if (in != null) in.promotedAs = r.getString("document_id");
      }
      case "gap_closed" -> {
        Cluster c = clusterById.get(r.getString("cluster"));
        if (c != null) closeInMemory(c);
      }
      case "pattern" -> applyPattern(r);
      case "interaction" -> {
        Interaction in = new Interaction(r.getString("id"), r.getString("tenant"), r.getString("question"),
            r.getString("route"), r.getDouble("best_score"), r.getString("answer"), r.getString("cluster"));
        in.feedback = r.getInteger("feedback", 0);
        in.promotedAs = r.getString("promoted");
        interactions.put(in.id, in);
      }
      case "recent" -> {
        String tenant = r.getString("tenant");
        ArrayDeque<Boolean> q = tenant == null ? recentAll : recent.computeIfAbsent(tenant, t -> new ArrayDeque<>());
        for (char ch : r.getString("answered").toCharArray()) push(q, ch == '1');
      }
      case "questions" -> questions = r.getLong("count");
      default -> throw new IllegalArgumentException("unknown record type " + r.getString("type"));
    }
  }

  /** A pattern as a snapshot wrote it: appended to its tenant's list, whose order gives new patterns their ids. */
  private void applyPattern(JsonObject r) {
    Cluster c = new Cluster(r.getString("id"), r.getString("tenant"), decode(r.getString("sum")));
    c.centroid = decode(r.getString("centroid"));
    c.count = r.getInteger("count");
    for (Object e : r.getJsonArray("examples")) c.examples.add((String) e);
    c.misses = r.getInteger("misses");
    c.bestMissScore = r.getDouble("best_miss_score");
    c.missQuestion = r.getString("miss_question");
    c.lastSeen = r.getLong("last_seen");
    c.gapOpen = r.getBoolean("gap_open");
    clusters.computeIfAbsent(c.tenant, t -> new ArrayList<>()).add(c);
    clusterById.put(c.id, c);
  }

  /** The state as records that {@link #apply} replays to the same state (patterns in their tenants' order). */
  private byte[] snapshot() {
    StringBuilder b = new StringBuilder();
    for (List<Cluster> list : clusters.values()) {
      for (Cluster c : list) {
        b.append(new JsonObject().put("type", "pattern").put("id", c.id).put("tenant", c.tenant)
            .put("sum", encode(c.sum)).put("centroid", encode(c.centroid)).put("count", c.count)
            .put("examples", new JsonArray(new ArrayList<>(c.examples))).put("misses", c.misses)
            .put("best_miss_score", c.bestMissScore).put("miss_question", c.missQuestion)
            .put("last_seen", c.lastSeen).put("gap_open", c.gapOpen).encode()).append('\n');
      }
    }
    for (Interaction in : interactions.values()) {
      b.append(new JsonObject().put("type", "interaction").put("id", in.id).put("tenant", in.tenant)
          .put("question", in.question).put("route", in.route).put("best_score", in.bestScore)
          .put("answer", in.answer).put("cluster", in.clusterId).put("feedback", in.feedback)
          .put("promoted", in.promotedAs).encode()).append('\n');
    }
    recent.forEach((tenant, q) -> b.append(recentRecord(tenant, q)).append('\n'));
    b.append(recentRecord(null, recentAll)).append('\n');
    b.append(new JsonObject().put("type", "questions").put("count", questions).encode()).append('\n');
    return b.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static String recentRecord(String tenant, ArrayDeque<Boolean> q) {
    StringBuilder flags = new StringBuilder(q.size());
    for (boolean answered : q) flags.append(answered ? '1' : '0');
    return new JsonObject().put("type", "recent").put("tenant", tenant).put("answered", flags.toString()).encode();
  }

  /**
   * The log, {@code size} bytes and past the size mark ({@link #maybeCompact} checked), rewritten as its snapshot
   * where that at least halves it (temporary file, fsync, atomic rename, fsync of the directory where the platform
   * allows); otherwise moves the mark to twice the size.
   */
  private void compactIfWorthIt(long size) throws IOException {
    long t0 = System.nanoTime();
    byte[] snap = snapshot();
    if (snap.length * 2L > size) {
      nextCompactAt = Math.max(compactAtBytes, 2 * size);
      return;
    }
    Path tmp = file.resolveSibling(file.getFileName() + ".compact");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer buf = ByteBuffer.wrap(snap);
      while (buf.hasRemaining()) ch.write(buf);
      ch.force(true);
    }
    channel.close();
    try {
      Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
          java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    } finally {
      // the old log or the new one, whichever the rename left: appends go on
      channel = FileChannel.open(file, StandardOpenOption.WRITE);
      channel.position(channel.size());
    }
    try (FileChannel dir = FileChannel.open(file.getParent(), StandardOpenOption.READ)) {
      dir.force(true);   // the rename itself durable (Linux; elsewhere opening a directory may fail)
    } catch (IOException e) {
      LOG.debug("Cannot fsync the directory of {}: {}", file, e.toString());
    }
    nextCompactAt = Math.max(compactAtBytes, 2L * snap.length);
    LOG.info("Compacted {}: {} bytes to {} ({} patterns, {} interactions kept) in {} ms", file, size, snap.length,
        clusterById.size(), interactions.size(), (System.nanoTime() - t0) / 1_000_000);
  }

  private Interaction applyQuestion(JsonObject r) {
    String tenant = r.getString("tenant");
    float[] v = decode(r.getString("vec"));
    double best = r.getDouble("best_score");
    String question = r.getString("question");
    long ts = r.getLong("ts");
    Cluster c = assign(tenant, v, question, ts);
    boolean answered = best >= answerThreshold;
    if (answered) {
      if (c.gapOpen) closeInMemory(c);   // the same question now finds an answer
    } else {
      if (c.misses == 0) c.missQuestion = question;
      c.misses++;
      c.bestMissScore = Math.max(c.bestMissScore, best);
      c.gapOpen = true;
    }
    push(recent.computeIfAbsent(tenant, t -> new ArrayDeque<>()), answered);
    push(recentAll, answered);
    questions++;
    Interaction in = new Interaction(r.getString("id"), tenant, question, r.getString("route"), best,
        r.getString("answer"), c.id);
    interactions.put(in.id, in);
    return in;
  }

  private void push(ArrayDeque<Boolean> q, boolean answered) {
    q.addLast(answered);
    while (q.size() > coverageWindow) q.removeFirst();
  }

  private Cluster assign(String tenant, float[] v, String question, long ts) {
    List<Cluster> list = clusters.computeIfAbsent(tenant, t -> new ArrayList<>());
    Cluster best = null;
    double bestSim = -2;
    for (Cluster c : list) {
      double s = dot(c.centroid, v);
      if (s > bestSim) {
        bestSim = s;
        best = c;
      }
    }
    if (best == null || bestSim < patternThreshold) {
      best = new Cluster(tenant + ":" + (list.size() + 1), tenant, v);
      list.add(best);
      clusterById.put(best.id, best);
    } else {
      for (int i = 0; i < v.length; i++) best.sum[i] += v[i];
      best.centroid = normalise(best.sum);
    }
    best.count++;
    best.lastSeen = ts;
    String norm = question.strip().toLowerCase(Locale.ROOT);
    if (best.examples.size() < MAX_EXAMPLES
        && best.examples.stream().noneMatch(e -> e.toLowerCase(Locale.ROOT).equals(norm))) {
      best.examples.add(question.strip());
    }
    return best;
  }

  private void closeInMemory(Cluster c) {
    c.gapOpen = false;
    c.misses = 0;
    c.bestMissScore = -1;
    c.missQuestion = null;
  }

  private boolean isGap(Cluster c) {
    return c.gapOpen && c.misses >= gapMinCount;
  }

  // ------------------------------------------------------------------------------------------ writes

  /** Logs a question durably; returns the interaction. */
  public synchronized Interaction recordQuestion(String tenant, String question, String route, float[] vector,
                                                 double bestScore, List<Double> scores, String answer,
                                                 String requestId) throws IOException {
    JsonObject r = new JsonObject().put("type", "question").put("id", "int-" + UUID.randomUUID())
        .put("ts", System.currentTimeMillis()).put("tenant", tenant).put("question", question)
        .put("route", route).put("best_score", bestScore)
        .put("scores", new JsonArray(scores == null ? List.of() : scores)).put("answer", answer)
        .put("request_id", requestId).put("vec", encode(vector));
    append(r);
    Interaction in = applyQuestion(r);
    maybeCompact();
    return in;
  }

  /** Logs feedback (+1 or -1) for an interaction; false when the id is unknown. */
  public synchronized boolean recordFeedback(String interactionId, int rating, String comment) throws IOException {
    if (!interactions.containsKey(interactionId)) return false;
    JsonObject r = new JsonObject().put("type", "feedback").put("interaction_id", interactionId)
        .put("rating", rating).put("comment", comment).put("ts", System.currentTimeMillis());
    append(r);
    apply(r);
    return true;
  }

  public synchronized void recordPromotion(String interactionId, String documentId) throws IOException {
    JsonObject r = new JsonObject().put("type", "promoted").put("interaction_id", interactionId)
        .put("document_id", documentId).put("ts", System.currentTimeMillis());
    append(r);
    apply(r);
  }

  /** Closes a gap because knowledge now answers it (best similarity {@code score}). */
  public synchronized void closeGap(String clusterId, double score) throws IOException {
    Cluster c = clusterById.get(clusterId);
    if (c == null || !c.gapOpen) return;
    JsonObject r = new JsonObject().put("type", "gap_closed").put("cluster", clusterId).put("score", score)
        .put("ts", System.currentTimeMillis());
    append(r);
    apply(r);
    LOG.info("Knowledge gap {} closed (best similarity now {})", clusterId, String.format(Locale.ROOT, "%.3f", score));
  }

  private void append(JsonObject r) throws IOException {
    ByteBuffer buf = ByteBuffer.wrap((r.encode() + "\n").getBytes(StandardCharsets.UTF_8));
    while (buf.hasRemaining()) channel.write(buf);
    channel.force(false);
  }

  /**
   * After a record was appended and applied: compacts when the log has grown past its mark. A compaction that fails
   * leaves the log as it was (the record is in it) and is tried again once the log has doubled.
   */
  private void maybeCompact() throws IOException {
    long size = channel.size();
    if (size < nextCompactAt) return;
    try {
      compactIfWorthIt(size);
    } catch (IOException e) {
      LOG.warn("Could not compact {} ({}); it keeps growing until the next try", file, e.toString());
      nextCompactAt = 2 * size;
    }
  }

  // ------------------------------------------------------------------------------------------ reads

  public synchronized Interaction interaction(String id) {
    return interactions.get(id);
  }

  /** Open gaps of a tenant (null: all tenants), most frequent first. */
  public synchronized List<Gap> gaps(String tenant, int limit) {
    return clusterById.values().stream()
        .filter(c -> (tenant == null || c.tenant.equals(tenant)) && isGap(c))
        .sorted(Comparator.comparingInt((Cluster c) -> -c.misses).thenComparingLong(c -> -c.lastSeen))
        .limit(limit)
        .map(c -> new Gap(c.id, c.tenant, c.missQuestion, c.misses, c.bestMissScore, List.copyOf(c.examples)))
        .toList();
  }

  /** Clusters with an open gap flag (shown or not yet recurring), for re-checks after new knowledge. */
  public synchronized List<Gap> openCandidates() {
    return clusterById.values().stream().filter(c -> c.gapOpen)
        .map(c -> new Gap(c.id, c.tenant, c.missQuestion, c.misses, c.bestMissScore, List.copyOf(c.examples)))
        .toList();
  }

  public synchronized List<Pattern> patterns(String tenant, int limit) {
    return clusters.getOrDefault(tenant, List.of()).stream()
        .sorted(Comparator.comparingInt((Cluster c) -> -c.count).thenComparingLong(c -> -c.lastSeen))
        .limit(limit)
        .map(c -> new Pattern(c.id, c.examples.get(0), c.count, List.copyOf(c.examples), c.gapOpen ? c.misses : 0))
        .toList();
  }

  /** Share of a tenant's recent questions (null: everyone's) whose best similarity reached the threshold; NaN if none. */
  public synchronized double coverage(String tenant) {
    ArrayDeque<Boolean> q = tenant == null ? recentAll : recent.getOrDefault(tenant, new ArrayDeque<>());
    if (q.isEmpty()) return Double.NaN;
    long ok = q.stream().filter(b -> b).count();
    return (double) ok / q.size();
  }

  public synchronized int recentQuestions(String tenant) {
    return tenant == null ? recentAll.size() : recent.getOrDefault(tenant, new ArrayDeque<>()).size();
  }

  public synchronized long questions() { return questions; }

  public synchronized long openGaps() {
    return clusterById.values().stream().filter(this::isGap).count();
  }

  @Override
  public synchronized void close() throws IOException {
    channel.close();
  }

  // ------------------------------------------------------------------------------------------ vectors

  static String encode(float[] v) {
    ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    for (float f : v) b.putFloat(f);
    return Base64.getEncoder().encodeToString(b.array());
  }

  static float[] decode(String s) {
    ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(s)).order(ByteOrder.LITTLE_ENDIAN);
    float[] v = new float[b.remaining() / 4];
    for (int i = 0; i < v.length; i++) v[i] = b.getFloat();
    return v;
  }

  private static double dot(float[] a, float[] b) {
    double d = 0;
    for (int i = 0; i < a.length; i++) d += a[i] * b[i];
    return d;
  }

  private static float[] normalise(float[] v) {
    double n = 0;
    for (float f : v) n += f * f;
    n = Math.max(Math.sqrt(n), 1e-12);
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) out[i] = (float) (v[i] / n);
    return out;
  }
}
