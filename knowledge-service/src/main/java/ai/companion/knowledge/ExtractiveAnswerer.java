package ai.companion.knowledge;

import ai.companion.api.spi.Embedder;
import ai.companion.knowledge.impl.Sentences;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;

/**
 * Answers a question without a generative model: retrieves the best passages, scores their sentences against the
 * question (embedding similarity plus shared stemmed words), and returns the best few sentences with numbered
 * citations (document, chunk). When the best passage is not similar enough it says so instead of guessing.
 * Blocking (embeddings, Lucene): call from a worker thread.
 */
public final class ExtractiveAnswerer {
  public static final int DEFAULT_PASSAGES = 4;
  public static final int MAX_SENTENCES = 3;

  private final KnowledgeStore store;
  private final double answerThreshold;
  private final Analyzer analyzer = new EnglishAnalyzer();

  public ExtractiveAnswerer(KnowledgeStore store, double answerThreshold) {
    this.store = store;
    this.answerThreshold = answerThreshold;
  }

  /** A cited sentence; {@code n} is the citation number used in the answer text. */
  public record Citation(int n, String documentId, String chunkId, String title, String sentence, double score) {}

  public record Answer(String question, String text, boolean answered, double bestScore, List<Citation> citations,
                       List<String> facts, KnowledgeStore.SearchResult retrieval) {}

  public Answer answer(String tenant, String question, boolean graph) throws IOException {
    KnowledgeStore.SearchResult r = store.search(tenant, question, DEFAULT_PASSAGES, graph);
    if (r.hits().isEmpty() || r.bestSimilarity() < answerThreshold) {
      String best = r.hits().isEmpty() ? "nothing is indexed yet"
          : String.format(Locale.ROOT, "the closest passage scored %.2f, below %.2f", r.bestSimilarity(),
              answerThreshold);
      String text = "I don't know: the knowledge base has no good answer to that (" + best + "). "
          + "Add documents with `./companion ingest PATH` or POST /v1/knowledge/documents, and this question "
          + "will be answered from them.";
      return new Answer(question, text, false, r.bestSimilarity(), List.of(), List.of(), r);
    }

    // candidate sentences from the passages, with their passage rank
    record Candidate(int hit, int pos, String sentence) {}
    List<Candidate> cands = new ArrayList<>();
    for (int h = 0; h < r.hits().size(); h++) {
      KnowledgeStore.Hit hit = r.hits().get(h);
      if (hit.similarity() < answerThreshold * 0.8 && h > 0) continue;   // keep to passages that are on topic
      int pos = 0;
      for (String para : hit.text().split("\\n\\n")) {
        for (String s : Sentences.split(para)) {
          if (s.length() >= 12 && s.chars().filter(Character::isLetter).count() >= 8) cands.add(new Candidate(h, pos, s));
          pos++;
        }
      }
    }
    if (cands.isEmpty()) {
      return new Answer(question, "I don't know: the matching passages hold no usable sentences.", false,
          r.bestSimilarity(), List.of(), List.of(), r);
    }
    float[][] sv = store.embedder().embed(cands.stream().map(Candidate::sentence).toList());
    Set<String> qTerms = terms(question);
    double[] score = new double[cands.size()];
    for (int i = 0; i < cands.size(); i++) {
      double sim = Embedder.cosine(r.queryVector(), sv[i]);
      Set<String> st = terms(cands.get(i).sentence());
      long shared = qTerms.stream().filter(st::contains).count();
      double overlap = qTerms.isEmpty() ? 0 : (double) shared / qTerms.size();
      score[i] = sim + 0.2 * overlap + 0.05 / (1 + cands.get(i).hit());
    }
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < cands.size(); i++) order.add(i);
    order.sort(Comparator.comparingDouble(i -> -score[i]));
    List<Integer> picked = new ArrayList<>();
    double top = score[order.get(0)];
    for (int i : order) {
      if (picked.size() >= MAX_SENTENCES) break;
      if (score[i] < top - 0.15 && !picked.isEmpty()) break;   // only sentences nearly as good as the best
      boolean redundant = false;
      for (int p : picked) if (Embedder.cosine(sv[i], sv[p]) > 0.9) redundant = true;
      if (!redundant) picked.add(i);
    }
    // read in document order: by passage rank, then position in the passage
    picked.sort(Comparator.comparingInt((Integer i) -> cands.get(i).hit()).thenComparingInt(i -> cands.get(i).pos()));
    Map<Integer, Integer> citeNo = new LinkedHashMap<>();   // hit index -> citation number
    List<Citation> citations = new ArrayList<>();
    StringBuilder text = new StringBuilder();
    for (int i : picked) {
      Candidate c = cands.get(i);
      KnowledgeStore.Hit hit = r.hits().get(c.hit());
      int n = citeNo.computeIfAbsent(c.hit(), x -> citeNo.size() + 1);
      citations.add(new Citation(n, hit.documentId(), hit.chunkId(), hit.title(), c.sentence(), score[i]));
      if (text.length() > 0) text.append(' ');
      text.append(c.sentence()).append(" [").append(n).append(']');
    }
    text.append("\n\nSources:");
    for (Map.Entry<Integer, Integer> e : citeNo.entrySet()) {
      KnowledgeStore.Hit hit = r.hits().get(e.getKey());
      text.append("\n[").append(e.getValue()).append("] ").append(hit.title()).append(" (").append(hit.documentId())
          .append(", chunk ").append(hit.chunkId()).append(')');
    }
    List<String> facts = store.facts(tenant, r.seeds(), 5);
    return new Answer(question, text.toString(), true, r.bestSimilarity(), citations, facts, r);
  }

  private Set<String> terms(String text) {
    Set<String> out = new HashSet<>();
    try (TokenStream ts = analyzer.tokenStream("body", text)) {
      CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
      ts.reset();
      while (ts.incrementToken()) out.add(term.toString());
      ts.end();
    } catch (IOException e) {
      throw new IllegalStateException(e);   // in-memory analysis does not do I/O
    }
    return out;
  }
}
