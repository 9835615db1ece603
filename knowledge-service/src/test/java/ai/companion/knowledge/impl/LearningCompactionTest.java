package ai.companion.knowledge.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The interaction log stays bounded: compacted (while appending and at open) to a snapshot that replays to the same
 * patterns, gaps, coverage and interactions as the whole log, and from which learning goes on exactly as it would
 * have.
 */
class LearningCompactionTest {
  private static final int DIM = 384;
  private static final List<String> TENANTS = List.of("acme", "globex");

  @TempDir Path dir;

  private Learning open(Path file, long compactAt) throws Exception {
    return new Learning(file, 0.8, 0.5, 2, 50, compactAt);
  }

  /** Questions on 30 topics per tenant (a topic vector plus noise), every fourth one answered well, some rated. */
  private static final class Feed {
    final Random random = new Random(7);
    final float[][] topics = new float[30][];
    final List<Learning.Interaction> fromA = new ArrayList<>();
    final List<Learning.Interaction> fromB = new ArrayList<>();

    Feed() {
      for (int i = 0; i < topics.length; i++) topics[i] = unit(gaussian(random, 1.0f));
    }

    /** One step on both learnings alike: the same question, scores and feedback. */
    void step(int i, Learning a, Learning b) throws Exception {
      String tenant = TENANTS.get(i % 2);
      int topic = random.nextInt(topics.length);
      float[] noise = gaussian(random, 0.01f);
      float[] v = new float[DIM];
      for (int d = 0; d < DIM; d++) v[d] = topics[topic][d] + noise[d];
      v = unit(v);
      double best = i % 4 == 0 ? 0.9 : 0.2 + random.nextDouble() * 0.2;
      String question = "question " + topic + (random.nextBoolean() ? "?" : " please?");
      Learning.Interaction ia = a.recordQuestion(tenant, question, "direct", v, best, List.of(best), "answer " + i,
          "req-" + i);
      Learning.Interaction ib = b.recordQuestion(tenant, question, "direct", v, best, List.of(best), "answer " + i,
          "req-" + i);
      fromA.add(ia);
      fromB.add(ib);
      if (i % 7 == 0) {
        a.recordFeedback(ia.id, i % 2 == 0 ? 1 : -1, "ok");
        b.recordFeedback(ib.id, i % 2 == 0 ? 1 : -1, "ok");
      }
      if (i % 97 == 0) {
        a.recordPromotion(ia.id, "doc-" + i);
        b.recordPromotion(ib.id, "doc-" + i);
      }
      if (i % 211 == 0 && !a.openCandidates().isEmpty()) {
        String cluster = a.openCandidates().get(0).clusterId();
        a.closeGap(cluster, 0.7);
        b.closeGap(cluster, 0.7);
      }
    }
  }

  /**
   * Everything the API shows, interactions by position (their ids are random per log); patterns and gaps sorted by
   * text, as their order among equals follows the clock (last seen) of each log's own writes.
   */
  private static String state(Learning l, List<Learning.Interaction> asked) {
    StringBuilder s = new StringBuilder();
    for (String t : TENANTS) {
      s.append(t).append(" patterns ").append(sorted(l.patterns(t, 1000))).append('\n');
      s.append(t).append(" coverage ").append(l.coverage(t)).append(' ').append(l.recentQuestions(t)).append('\n');
    }
    s.append("gaps ").append(sorted(l.gaps(null, 1000))).append('\n');
    s.append("candidates ").append(l.openCandidates().size()).append(" open ").append(l.openGaps()).append('\n');
    s.append("all ").append(l.coverage(null)).append(' ').append(l.recentQuestions(null)).append(" questions ")
        .append(l.questions()).append('\n');
    for (Learning.Interaction in : asked) {
      Learning.Interaction now = l.interaction(in.id);
      s.append(now.tenant).append('|').append(now.question).append('|').append(now.route).append('|')
          .append(now.bestScore).append('|').append(now.answer).append('|').append(now.clusterId).append('|')
          .append(now.feedback).append('|').append(now.promotedAs).append('\n');
    }
    return s.toString();
  }

  @Test void aCompactedLogReplaysToTheSameStateAndLearningGoesOnAlike() throws Exception {
    Path whole = dir.resolve("whole.jsonl");
    Path compacted = dir.resolve("compacted.jsonl");
    Feed feed = new Feed();
    Learning a = open(whole, Long.MAX_VALUE);
    Learning b = open(compacted, 64 << 10);
    for (int i = 0; i < 1500; i++) feed.step(i, a, b);
    // every interaction of each log, looked up by its own id
    List<Learning.Interaction> inA = feed.fromA;
    List<Learning.Interaction> inB = feed.fromB;
    for (int i = 1500; i < 1510; i++) {
      inA.add(a.recordQuestion("acme", "late " + i, "direct", unit(gaussian(new Random(i), 1f)), 0.3, List.of(), "x",
          "r" + i));
      inB.add(b.recordQuestion("acme", "late " + i, "direct", unit(gaussian(new Random(i), 1f)), 0.3, List.of(), "x",
          "r" + i));
    }
    a.recordFeedback(inA.get(3).id, 1, "good");
    b.recordFeedback(inB.get(3).id, 1, "good");
    String before = state(a, inA);
    assertTrue(before.contains("gaps [Gap["), before);
    assertTrue(before.contains("|doc-97\n"), "a promoted interaction among those compared");
    assertEquals(before, state(b, inB));
    long wholeBytes = Files.size(whole);
    long compactedBytes = Files.size(compacted);
    // compacted (it starts with a snapshot), and stays within about twice the last snapshot plus what came after
    assertTrue(Files.readString(compacted).startsWith("{\"type\":\"pattern\""));
    assertTrue(compactedBytes * 10 < wholeBytes * 6, compactedBytes + " bytes against " + wholeBytes);
    a.close();
    b.close();

    // replayed from the files: the same state on both
    a = open(whole, Long.MAX_VALUE);
    b = open(compacted, 64 << 10);
    assertEquals(before, state(a, inA));
    assertEquals(before, state(b, inB));
    // and learning goes on alike: new patterns numbered after the old ones, gaps counted on
    Feed more = new Feed();
    more.random.setSeed(99);
    for (int i = 0; i < 400; i++) more.step(2000 + i, a, b);
    String after = state(a, inA);
    assertEquals(after, state(b, inB));
    assertTrue(!after.equals(before));
    a.close();
    b.close();

    // the whole log compacts at open too, to the same state
    long size = Files.size(whole);
    a = open(whole, 64 << 10);
    assertTrue(Files.size(whole) * 2 < size, Files.size(whole) + " bytes against " + size);
    assertEquals(after, state(a, inA));
    a.close();
    assertTrue(Files.notExists(dir.resolve("whole.jsonl.compact")));
    // and that file holds nothing but the snapshot: replayed alone, it gives the same state
    assertTrue(Files.readAllLines(whole).stream().noneMatch(line -> line.startsWith("{\"type\":\"question\"")));
    a = open(whole, Long.MAX_VALUE);
    assertEquals(after, state(a, inA));
    a.close();
  }

  @Test void aSnapshotThatWouldNotHalveTheLogIsNotWritten() throws Exception {
    Path file = dir.resolve("small.jsonl");
    Learning l = open(file, 1);   // past the mark at once, but a log of one question has nothing to shed
    l.recordQuestion("acme", "one", "direct", unit(gaussian(new Random(1), 1f)), 0.2, List.of(), "a", "r");
    long size = Files.size(file);
    assertTrue(new String(Files.readAllBytes(file)).contains("\"type\":\"question\""));
    l.close();
    l = open(file, 1);
    assertEquals(size, Files.size(file));
    assertEquals(1, l.questions());
    l.close();
  }

  @Test void aCompactionThatFailsLeavesTheLogWorking() throws Exception {
    Path file = dir.resolve("stuck.jsonl");
    // the snapshot's temporary file cannot be created: a directory with something in it sits at its path
    Files.createDirectories(dir.resolve("stuck.jsonl.compact"));
    Files.writeString(dir.resolve("stuck.jsonl.compact").resolve("x"), "x");
    Learning l = open(file, 64 << 10);
    Feed feed = new Feed();
    Learning twin = open(dir.resolve("twin.jsonl"), Long.MAX_VALUE);
    for (int i = 0; i < 1000; i++) feed.step(i, l, twin);   // past the mark each compaction tries, fails, goes on
    assertTrue(Files.size(file) > 64 << 10, "past the mark, not compacted");
    assertEquals(state(twin, feed.fromB), state(l, feed.fromA));
    l.close();
    l = open(file, Long.MAX_VALUE);
    assertEquals(state(twin, feed.fromB), state(l, feed.fromA));
    assertEquals(1000, l.questions());
    l.close();
    twin.close();
  }

  private static List<String> sorted(List<?> items) {
    return items.stream().map(Object::toString).sorted().toList();
  }

  private static float[] gaussian(Random r, float scale) {
    float[] v = new float[DIM];
    for (int i = 0; i < DIM; i++) v[i] = (float) r.nextGaussian() * scale;
    return v;
  }

  private static float[] unit(float[] v) {
    double n = 0;
    for (float f : v) n += f * f;
    n = Math.sqrt(n);
    float[] out = new float[v.length];
    for (int i = 0; i < v.length; i++) out[i] = (float) (v[i] / n);
    return out;
  }
}
