package ai.companion.router.impl;

import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's durable memory: an append-only JSON-lines file of decisions ({@code "t":"d"}) and rewards
 * ({@code "t":"r"}), replayed at start into the bandit and the index that maps a request id to its decision.
 * A torn last line (a crash mid-write) is skipped on replay. Rewards are forced to disk before they are
 * acknowledged; decisions are flushed but not forced (losing the last few only loses feedback for them).
 *
 * <p>Blocking: every method does file I/O; call from a worker thread, one at a time (the router uses an
 * ordered executor).
 */
public final class DecisionLog implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DecisionLog.class);

  /** Decisions remembered for feedback; older ones only live in the file (and in the bandit's counts). */
  public static final int MAX_INDEXED = 200_000;
  /** A log longer than this is compacted at open: the bandit's totals plus the indexed decisions. */
  public static final int DEFAULT_COMPACT_AFTER_LINES = 1_000_000;

  /** A line of the log: a decision, or a reward for one. */
  public sealed interface Entry permits Decision, Reward {}

  /**
   * What a request was routed to, for crediting its feedback.
   *
   * @param chars characters of the normalised prompt, to calibrate tokens per character when the real
   *     prompt token count comes back
   */
  public record Decision(String requestId, String pattern, String strategy, String model, int chars, long at)
      implements Entry {}

  private final Path file;
  private final FileChannel channel;
  private volatile long forces;
  private final Map<String, Decision> index = new LinkedHashMap<>(1024, 0.75f, false) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<String, Decision> eldest) {
      return size() > MAX_INDEXED;
    }
  };
  private int replayedDecisions;
  private int replayedRewards;
  private int skipped;

  private DecisionLog(Path file, FileChannel channel) {
    this.file = file;
    this.channel = channel;
  }

  /** Opens (creating) {@code dir/decisions.jsonl} and replays it: rewards go to {@code bandit}. */
  public static DecisionLog open(Path dir, ThompsonBandit bandit) throws IOException {
    return open(dir, bandit, DEFAULT_COMPACT_AFTER_LINES);
  }

  /** As {@link #open(Path, ThompsonBandit)}, compacting first when the file has more than {@code compactAfter} lines. */
  public static DecisionLog open(Path dir, ThompsonBandit bandit, int compactAfter) throws IOException {
    Files.createDirectories(dir);
    Path file = dir.resolve("decisions.jsonl");
    DecisionLog log = new DecisionLog(file, null);
    long lines = 0;
    if (Files.exists(file)) {
      try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
        String line;
        while ((line = r.readLine()) != null) {
          log.replay(line, bandit);
          lines++;
        }
      }
    }
    if (lines > compactAfter) compact(file, bandit, log.index, lines);
    FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.APPEND);
    DecisionLog opened = new DecisionLog(file, ch);
    opened.index.putAll(log.index);
    opened.replayedDecisions = log.replayedDecisions;
    opened.replayedRewards = log.replayedRewards;
    opened.skipped = log.skipped;
    if (log.skipped > 0) LOG.warn("Skipped {} unreadable line(s) in {}", log.skipped, file);
    LOG.info("Replayed {} decisions and {} rewards from {}", log.replayedDecisions, log.replayedRewards, file);
    return opened;
  }

  /**
   * Rewrites the log as the bandit's totals ({@code "t":"s"}) plus the decisions still indexed, then swaps it
   * in atomically: a crash leaves either the old file or the new one.
   */
  private static void compact(Path file, ThompsonBandit bandit, Map<String, Decision> index, long lines)
      throws IOException {
    Path tmp = file.resolveSibling(file.getFileName() + ".compact");
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      StringBuilder b = new StringBuilder();
      bandit.snapshot().forEach((p, arms) -> arms.forEach((a, e) -> b.append(new JsonObject().put("t", "s")
          .put("p", p).put("s", a).put("a", e[0]).put("b", e[1]).encode()).append('\n')));
      for (Decision d : index.values()) {
        b.append(new JsonObject().put("t", "d").put("id", d.requestId()).put("p", d.pattern()).put("s", d.strategy())
            .put("m", d.model()).put("c", d.chars()).put("at", d.at()).encode()).append('\n');
      }
      ByteBuffer buf = ByteBuffer.wrap(b.toString().getBytes(StandardCharsets.UTF_8));
      while (buf.hasRemaining()) ch.write(buf);
      ch.force(true);
    }
    Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    LOG.info("Compacted {}: {} lines to {} totals and {} decisions", file, lines,
        bandit.snapshot().values().stream().mapToInt(Map::size).sum(), index.size());
  }

  private void replay(String line, ThompsonBandit bandit) {
    if (line.isBlank()) return;
    try {
      JsonObject j = new JsonObject(line);
      switch (j.getString("t", "")) {
        case "d" -> {
          index(decisionOf(j));
          replayedDecisions++;
        }
        case "r" -> {
          bandit.reward(j.getString("p"), j.getString("s"), j.getDouble("r"), j.getDouble("w"));
          replayedRewards++;
        }
        case "s" -> {
          // a compacted total: successes and failures as they stood
          if (j.getDouble("a") > 0) bandit.reward(j.getString("p"), j.getString("s"), 1.0, j.getDouble("a"));
          if (j.getDouble("b") > 0) bandit.reward(j.getString("p"), j.getString("s"), 0.0, j.getDouble("b"));
        }
        default -> skipped++;
      }
    } catch (DecodeException | ClassCastException | NullPointerException e) {
      skipped++;
    }
  }

  private static Decision decisionOf(JsonObject j) {
    return new Decision(j.getString("id"), j.getString("p"), j.getString("s"), j.getString("m"), j.getInteger("c", 0),
        j.getLong("at", 0L));
  }

  private void index(Decision d) {
    if (d.requestId() != null) index.put(d.requestId(), d);
  }

  public Decision find(String requestId) {
    synchronized (index) {
      return index.get(requestId);
    }
  }

  /** Makes a decision findable at once (call on the deciding thread; the line is written later). */
  public void remember(Decision d) {
    synchronized (index) {
      index(d);
    }
  }

  public void appendDecision(Decision d) throws IOException {
    append(List.of(d));
  }

  /** One reward line. */
  public record Reward(String requestId, String pattern, String strategy, double reward, double weight,
                       String source) implements Entry {}

  /** Appends a reward and forces it to disk. */
  public void appendReward(String requestId, String pattern, String strategy, double reward, double weight,
                           String source) throws IOException {
    append(List.of(new Reward(requestId, pattern, strategy, reward, weight, source)));
  }

  /**
   * Appends decisions and rewards in the given order with one write, and forces them to disk with one sync if
   * any is a reward (a group commit: a burst of requests would otherwise cost one write per decision and one
   * fsync per reward). A decision needs no sync: losing the last ones in a crash only loses their feedback.
   */
  public void append(List<? extends Entry> entries) throws IOException {
    if (entries.isEmpty()) return;
    long at = System.currentTimeMillis();
    StringBuilder lines = new StringBuilder();
    boolean rewards = false;
    for (Entry e : entries) {
      JsonObject line;
      if (e instanceof Decision d) {
        remember(d);
        line = new JsonObject().put("t", "d").put("id", d.requestId()).put("p", d.pattern()).put("s", d.strategy())
            .put("m", d.model()).put("c", d.chars()).put("at", d.at());
      } else {
        Reward r = (Reward) e;
        rewards = true;
        line = new JsonObject().put("t", "r").put("id", r.requestId()).put("p", r.pattern()).put("s", r.strategy())
            .put("r", r.reward()).put("w", r.weight()).put("src", r.source()).put("at", at);
      }
      lines.append(line.encode()).append('\n');
    }
    write(lines.toString());
    if (rewards) {
      channel.force(false);
      forces++;
    }
  }

  /** Syncs of reward lines since this log was opened. */
  public long forces() { return forces; }

  private void write(String lines) throws IOException {
    ByteBuffer buf = ByteBuffer.wrap(lines.getBytes(StandardCharsets.UTF_8));
    while (buf.hasRemaining()) channel.write(buf);
  }

  public int replayedDecisions() { return replayedDecisions; }
  public int replayedRewards() { return replayedRewards; }
  public Path file() { return file; }

  @Override
  public void close() throws IOException {
    if (channel != null) {
      channel.force(false);
      channel.close();
    }
  }
}
