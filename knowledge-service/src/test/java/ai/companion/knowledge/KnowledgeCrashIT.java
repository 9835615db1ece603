package ai.companion.knowledge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.embeddings.MiniLmEmbedder;
import ai.companion.knowledge.impl.Learning;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 during ingestion loses nothing that was acknowledged: a real child JVM ({@link KnowledgeCrashChild})
 * ingests in a loop, this test reads its acknowledgements, kills it with {@code destroyForcibly()} at a random
 * moment (seeded; the seed is printed), reopens the store and checks that every acknowledged document is there in
 * its acknowledged version (or a later one that was in flight), whole, and searchable; and that every acknowledged
 * interaction is in the replayed log. Two crash rounds on the same data dir: the store reopens after a crash.
 */
class KnowledgeCrashIT {
  @TempDir Path dataDir;

  record Event(String kind, String a, String b) {}

  @Test
  void acknowledgedDocumentsSurviveKillMinus9() throws Exception {
    long seed = Long.getLong("crash.seed", System.nanoTime());
    System.out.println("KnowledgeCrashIT seed " + seed + " (rerun with -Dcrash.seed=" + seed + ")");
    Random random = new Random(seed);
    Map<String, Integer> acked = new HashMap<>();          // id -> last acknowledged version
    Map<String, Integer> sent = new HashMap<>();           // id -> highest version sent
    List<String> interactions = new ArrayList<>();
    for (int round = 0; round < 2; round++) {
      int ackTarget = 4 + random.nextInt(5);
      runAndKill(seed + round, "r" + round, ackTarget, random.nextInt(1500), acked, sent, interactions);
      verify(acked, sent, interactions);
    }
  }

  private void runAndKill(long seed, String prefix, int ackTarget, int extraMs, Map<String, Integer> acked,
                          Map<String, Integer> sent, List<String> interactions) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g", "-cp", testClassPath(),
        KnowledgeCrashChild.class.getName(), dataDir.toString(), Long.toString(seed), prefix));
    Process child = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          String[] p = line.split(" ");
          events.add(new Event(p[0], p.length > 1 ? p[1] : null, p.length > 2 ? p[2] : null));
        }
      } catch (Exception ignored) {
        // the child died: that is the point
      }
      events.add(new Event("EOF", null, null));
    });
    reader.setDaemon(true);
    reader.start();
    int acks = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
    long killAt = Long.MAX_VALUE;
    try {
      while (System.nanoTime() < Math.min(deadline, killAt)) {
        Event e = events.poll(50, TimeUnit.MILLISECONDS);
        if (e == null) continue;
        switch (e.kind()) {
          case "SEND" -> sent.merge(e.a(), Integer.parseInt(e.b()), Math::max);
          case "ACK" -> {
            acked.put(e.a(), Integer.parseInt(e.b()));
            if (++acks == ackTarget) killAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(extraMs);
          }
          case "IACK" -> interactions.add(e.a());
          case "EOF" -> throw new AssertionError("child exited by itself with " + child.waitFor());
          default -> { }
        }
      }
      assertTrue(acks >= ackTarget, "child acknowledged only " + acks + " documents before the deadline");
    } finally {
      child.destroyForcibly();   // SIGKILL: no shutdown hooks, no IndexWriter.close
      assertTrue(child.waitFor(30, TimeUnit.SECONDS));
    }
    reader.join(5000);
    // lines that were already printed when the kill landed still count
    for (Event e; (e = events.poll()) != null; ) {
      if (e.kind().equals("ACK")) acked.put(e.a(), Integer.parseInt(e.b()));
      if (e.kind().equals("SEND")) sent.merge(e.a(), Integer.parseInt(e.b()), Math::max);
      if (e.kind().equals("IACK")) interactions.add(e.a());
    }
    System.out.println("round " + prefix + ": killed after " + acks + " acknowledgements (+" + extraMs + " ms)");
  }

  private void verify(Map<String, Integer> acked, Map<String, Integer> sent, List<String> interactions) throws Exception {
    KnowledgeOptions opts = new KnowledgeOptions().setDataDir(dataDir.toString()).setChunkChars(400);
    try (KnowledgeStore store = KnowledgeStore.open(opts, MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32))) {
      for (Map.Entry<String, Integer> e : acked.entrySet()) {
        String id = e.getKey();
        List<KnowledgeStore.StoredChunk> chunks = store.chunks("public", id);
        assertTrue(!chunks.isEmpty(), "acknowledged " + id + " is gone");
        assertEquals(store.recordedChunkCount("public", id), chunks.size(), id + " is half written");
        for (int i = 0; i < chunks.size(); i++) assertEquals(i, chunks.get(i).chunkNo(), id + " chunk numbering");
        // exactly one version, the acknowledged one or a later one that was in flight: never a mix
        java.util.regex.Pattern versionOf = java.util.regex.Pattern.compile(
            java.util.regex.Pattern.quote(KnowledgeCrashChild.marker(id, 0).replaceAll("0$", "")) + "(\\d+)");
        java.util.Set<Integer> versions = new java.util.TreeSet<>();
        for (KnowledgeStore.StoredChunk c : chunks) {
          java.util.regex.Matcher m = versionOf.matcher(c.text());
          while (m.find()) versions.add(Integer.parseInt(m.group(1)));
        }
        assertEquals(1, versions.size(), id + " holds versions " + versions);
        int found = versions.iterator().next();
        assertTrue(found >= e.getValue() && found <= sent.get(id),
            id + " has version " + found + ", acknowledged " + e.getValue() + ", sent up to " + sent.get(id));
        // and it is searchable by its content: the version's marker word is in no other document, so BM25 ranks
        // it first (a query mixing words every document shares could rank other documents' chunks above it)
        String marker = KnowledgeCrashChild.marker(id, found);
        assertTrue(store.search("public", marker, 10, false).hits().stream()
            .anyMatch(h -> h.documentId().equals(id)), id + " not searchable");
      }
      // nothing half-written anywhere, acknowledged or not
      for (String[] d : store.documents()) {
        assertEquals(store.recordedChunkCount(d[0], d[1]), store.chunks(d[0], d[1]).size(), d[1] + " is half written");
      }
      System.out.println("verified " + acked.size() + " acknowledged documents, " + store.documents().size()
          + " in the store, " + interactions.size() + " acknowledged interactions");
    }
    try (Learning learning = new Learning(opts.storeDir().resolve("interactions.jsonl"), opts.getPatternThreshold(),
        opts.getAnswerThreshold(), opts.getGapMinCount(), opts.getCoverageWindow())) {
      for (String id : interactions) assertTrue(learning.interaction(id) != null, "interaction " + id + " lost");
    }
  }

  /** The class path of this test JVM (failsafe runs without a manifest-only jar in this module, see pom.xml). */
  private static String testClassPath() {
    String cp = System.getProperty("surefire.test.class.path");
    if (cp == null || cp.isBlank()) cp = System.getProperty("java.class.path");
    assertTrue(cp.contains("classes"), "unexpected class path " + cp);
    return cp.replace(File.pathSeparator + File.pathSeparator, File.pathSeparator);
  }
}
