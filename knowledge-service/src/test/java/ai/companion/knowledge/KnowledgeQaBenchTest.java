package ai.companion.knowledge;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.embeddings.MiniLmEmbedder;
import ai.companion.knowledge.impl.Learning;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The labelled QA set (src/test/resources/qa): recall@5 and MRR with and without graph expansion, ingestion
 * chunks/s, query latency, and coverage before and after filling the top gaps. Prints one block of figures;
 * asserts floors so a retrieval regression fails the build. Run alone with
 * {@code mvn -o -pl knowledge-service test -Dtest=KnowledgeQaBenchTest}.
 */
class KnowledgeQaBenchTest {
  @TempDir Path dataDir;

  record Quality(double recall5, double mrr, double recall5Multi, double mrrMulti) {}

  @Test
  void qaSetFigures() throws Exception {
    // -Dknowledge.bench.variant=int8 measures the quantized embedder instead
    String variant = System.getProperty("knowledge.bench.variant", "fp32");
    MiniLmEmbedder embedder = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.parse(variant));
    KnowledgeOptions opts = new KnowledgeOptions().setDataDir(dataDir.toString()).setEmbeddingVariant(variant);
    StringBuilder report = new StringBuilder("\n==== knowledge QA bench (all-MiniLM-L6-v2 " + variant
        + ", Lucene 9.12.3, " + Runtime.getRuntime().availableProcessors() + " cores) ====\n");
    try (KnowledgeStore store = KnowledgeStore.open(opts, embedder)) {
      // ingestion: one request (one commit) per document, then the whole set as one batch in another tenant
      List<KnowledgeStore.SourceDocument> docs = QaCorpus.documents();
      long t0 = System.nanoTime();
      for (KnowledgeStore.SourceDocument d : docs) store.ingest("public", List.of(d));
      double perDocS = (System.nanoTime() - t0) / 1e9;
      long chunks = store.stats().chunks();
      t0 = System.nanoTime();
      store.ingest("batch", docs);
      double batchS = (System.nanoTime() - t0) / 1e9;
      report.append(String.format(Locale.ROOT, "corpus: %d documents, %d chunks, %d entities, %d edges%n",
          docs.size(), chunks, store.stats().entities() / 2, store.stats().edges() / 2));
      report.append(String.format(Locale.ROOT, "ingest: %.1f chunks/s one commit per document, %.1f chunks/s one batch%n",
          chunks / perDocS, chunks / batchS));

      List<QaCorpus.Question> qs = QaCorpus.answerable();
      Quality plain = quality(store, qs, false);
      Quality graph = quality(store, qs, true);
      long multi = qs.stream().filter(q -> q.hops() > 1).count();
      report.append(String.format(Locale.ROOT, "questions: %d (%d need two hops)%n", qs.size(), multi));
      report.append(String.format(Locale.ROOT, "hybrid (vector+BM25):        recall@5 %.3f  MRR %.3f  | two-hop recall@5 %.3f MRR %.3f%n",
          plain.recall5(), plain.mrr(), plain.recall5Multi(), plain.mrrMulti()));
      report.append(String.format(Locale.ROOT, "hybrid + graph expansion:    recall@5 %.3f  MRR %.3f  | two-hop recall@5 %.3f MRR %.3f%n",
          graph.recall5(), graph.mrr(), graph.recall5Multi(), graph.mrrMulti()));

      // latency: every question three times after a warm-up round
      for (QaCorpus.Question q : qs) store.search("public", q.q(), 5, true);
      List<Double> ms = new ArrayList<>();
      for (int rep = 0; rep < 3; rep++) {
        for (QaCorpus.Question q : qs) {
          long s = System.nanoTime();
          store.search("public", q.q(), 5, true);
          ms.add((System.nanoTime() - s) / 1e6);
        }
      }
      double[] sorted = ms.stream().mapToDouble(Double::doubleValue).sorted().toArray();
      report.append(String.format(Locale.ROOT, "query latency (embed + kNN + BM25 + graph, k=5): p50 %.1f ms  p99 %.1f ms  (n=%d)%n",
          pct(sorted, 0.50), pct(sorted, 0.99), sorted.length));

      // calibration of the answer threshold: best similarity of answerable vs unanswerable questions
      double minAnswerable = 1;
      List<String> low = new ArrayList<>();
      for (QaCorpus.Question q : qs) {
        double b = store.bestSimilarity("public", q.q());
        minAnswerable = Math.min(minAnswerable, b);
        if (b < opts.getAnswerThreshold()) low.add(String.format(Locale.ROOT, "%.3f %s", b, q.q()));
      }
      report.append("answerable questions under the threshold: ").append(low).append('\n');
      double maxUnanswerable = -1;
      for (QaCorpus.Unanswerable u : QaCorpus.unanswerable()) {
        maxUnanswerable = Math.max(maxUnanswerable, store.bestSimilarity("public", u.q()));
      }
      report.append(String.format(Locale.ROOT, "best similarity: lowest answerable %.3f, highest unanswerable %.3f, threshold %.2f%n",
          minAnswerable, maxUnanswerable, opts.getAnswerThreshold()));

      // coverage before and after filling the top gaps
      try (Learning learning = new Learning(dataDir.resolve("bench-interactions.jsonl"), opts.getPatternThreshold(),
          opts.getAnswerThreshold(), opts.getGapMinCount(), 1000)) {
        double before = askAll(store, learning, qs);
        List<Learning.Gap> gaps = learning.gaps("public", 10);
        Set<String> fills = new LinkedHashSet<>();
        for (Learning.Gap g : gaps) {
          for (QaCorpus.Unanswerable u : QaCorpus.unanswerable()) {
            if (u.fill() != null && g.examples().contains(u.q())) fills.add(u.fill());
          }
        }
        for (String f : fills) store.ingest("public", List.of(QaCorpus.fill(f)));
        Learning fresh = new Learning(dataDir.resolve("bench-after.jsonl"), opts.getPatternThreshold(),
            opts.getAnswerThreshold(), opts.getGapMinCount(), 1000);
        double after = askAll(store, fresh, qs);
        fresh.close();
        report.append(String.format(Locale.ROOT, "coverage: %.3f before, %d gaps found %s, filled with %s, %.3f after%n",
            before, gaps.size(), gaps.stream().map(g -> g.question() + " x" + g.count()).toList(), fills, after));
        assertTrue(after > before, "filling gaps must raise coverage");
      }
      System.out.println(report);
      assertTrue(graph.recall5() >= 0.85, "recall@5 with graph " + graph.recall5());
      assertTrue(plain.recall5() >= 0.85, "recall@5 without graph " + plain.recall5());
      assertTrue(graph.mrr() >= 0.7, "MRR with graph " + graph.mrr());
      assertTrue(maxUnanswerable < opts.getAnswerThreshold(), "an unanswerable question scored " + maxUnanswerable);
    }
  }

  private static double askAll(KnowledgeStore store, Learning learning, List<QaCorpus.Question> qs) throws Exception {
    List<String> all = new ArrayList<>();
    qs.forEach(q -> all.add(q.q()));
    QaCorpus.unanswerable().forEach(u -> all.add(u.q()));
    for (String q : all) {
      KnowledgeStore.SearchResult r = store.search("public", q, 5, true);
      learning.recordQuestion("public", q, "bench", r.queryVector(), r.bestSimilarity(), List.of(), null, null);
    }
    return learning.coverage("public");
  }

  private static Quality quality(KnowledgeStore store, List<QaCorpus.Question> qs, boolean graph) throws Exception {
    double hit = 0, rr = 0, hitM = 0, rrM = 0;
    int nM = 0;
    StringBuilder misses = new StringBuilder();
    for (QaCorpus.Question q : qs) {
      List<KnowledgeStore.Hit> hits = store.search("public", q.q(), 5, graph).hits();
      int rank = -1;
      for (int i = 0; i < hits.size(); i++) {
        if (hits.get(i).documentId().equals(q.doc())) {
          rank = i + 1;
          break;
        }
      }
      double r = rank > 0 ? 1.0 / rank : 0;
      hit += rank > 0 ? 1 : 0;
      rr += r;
      if (q.hops() > 1) {
        nM++;
        hitM += rank > 0 ? 1 : 0;
        rrM += r;
      }
      if (rank != 1) misses.append(String.format(Locale.ROOT, "  [graph=%s] rank %d for '%s' (want %s, got %s)%n",
          graph, rank, q.q(), q.doc(), hits.isEmpty() ? "-" : hits.get(0).documentId()));
    }
    System.out.print(misses);
    return new Quality(hit / qs.size(), rr / qs.size(), nM == 0 ? 0 : hitM / nM, nM == 0 ? 0 : rrM / nM);
  }

  private static double pct(double[] sorted, double p) {
    int i = (int) Math.ceil(p * sorted.length) - 1;
    return sorted[Math.max(0, Math.min(sorted.length - 1, i))];
  }

}
