package ai.companion.knowledge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.spi.Embedder;
import ai.companion.embeddings.MiniLmEmbedder;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store with the real embedder and a real Lucene index on disk. */
class KnowledgeStoreTest {
  @TempDir Path dataDir;
  private KnowledgeStore store;

  @BeforeEach
  void open() throws Exception {
    store = KnowledgeStore.open(new KnowledgeOptions().setDataDir(dataDir.toString()),
        MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32));
  }

  @AfterEach
  void close() throws Exception {
    if (store != null) store.close();
  }

  private int rankOf(String tenant, String q, String doc, boolean graph) throws Exception {
    List<KnowledgeStore.Hit> hits = store.search(tenant, q, 5, graph).hits();
    for (int i = 0; i < hits.size(); i++) if (hits.get(i).documentId().equals(doc)) return i + 1;
    return -1;
  }

  @Test
  void ingestThenSearchFindsTheRightDocumentFirst() throws Exception {
    assertEquals(QaCorpus.DOCS, store.ingest("public", QaCorpus.documents()));
    assertEquals(1, rankOf("public", "What is the default port of a Hazelcast member?", "hazelcast.md", true));
    assertEquals(1, rankOf("public", "Which coffee species has more caffeine?", "coffee.md", true));
    assertEquals(1, rankOf("public", "Who designed the Raft algorithm?", "raft.html", false));
    // the HTML document was reduced to its text: no script, entities decoded, headings kept as context
    KnowledgeStore.Hit onnx = store.search("public", "Which execution provider uses NVIDIA GPUs?", 1, true).hits().get(0);
    assertEquals("onnx.html", onnx.documentId());
    assertEquals("ONNX and ONNX Runtime", onnx.title());
    assertFalse(onnx.text().contains("console.log"), onnx.text());
    assertFalse(onnx.text().contains("<"), onnx.text());
    KnowledgeStore.Stats stats = store.stats();
    assertEquals(QaCorpus.DOCS.size(), stats.documents());
    assertTrue(stats.chunks() >= QaCorpus.DOCS.size(), "chunks " + stats.chunks());
    assertTrue(stats.entities() > 50 && stats.edges() > 50, stats.toString());
  }

  @Test
  void searchResultsShowTheGraphPathUsed() throws Exception {
    store.ingest("public", QaCorpus.documents());
    KnowledgeStore.SearchResult r = store.search("public",
        "What consensus algorithm does the store that holds Kubernetes cluster state use?", 5, true);
    assertTrue(r.seeds().contains("Kubernetes"), r.seeds().toString());
    KnowledgeStore.Hit etcd = r.hits().stream().filter(h -> h.documentId().equals("etcd.txt")).findFirst()
        .orElseThrow(() -> new AssertionError("etcd.txt not in top 5: " + r.hits()));
    // etcd.txt never names Kubernetes: it was reached over the edge Kubernetes -> etcd
    assertTrue(etcd.graph().stream().anyMatch(p -> p.startsWith("Kubernetes -[") && p.endsWith("]-> etcd")),
        etcd.graph().toString());
    KnowledgeStore.SearchResult plain = store.search("public",
        "What consensus algorithm does the store that holds Kubernetes cluster state use?", 5, false);
    assertTrue(plain.hits().stream().allMatch(h -> h.graph().isEmpty()));
  }

  @Test
  void sameIdReplacesTheDocument() throws Exception {
    String v1 = "The lighthouse keeper Amelia Quist painted the tower red in 1921. " + "It stood on a granite cliff.";
    String v2 = "Tomas Brandt is a miller. The old mill by the river grinds barley.";
    store.ingest("public", List.of(new KnowledgeStore.SourceDocument("doc-1", "Story", v1, "text")));
    assertEquals(1, rankOf("public", "Who painted the lighthouse tower?", "doc-1", true));
    assertFalse(store.facts("public", List.of("Amelia Quist"), 10).isEmpty());
    store.ingest("public", List.of(new KnowledgeStore.SourceDocument("doc-1", "Story", v2, "text")));
    assertEquals(1, store.stats().documents());
    List<KnowledgeStore.StoredChunk> chunks = store.chunks("public", "doc-1");
    assertEquals(1, chunks.size());
    assertEquals(v2, chunks.get(0).text());
    assertEquals(1, store.recordedChunkCount("public", "doc-1"));
    for (KnowledgeStore.Hit h : store.search("public", "Who painted the lighthouse tower?", 5, true).hits()) {
      assertFalse(h.text().contains("lighthouse"), "old version still searchable: " + h.text());
    }
    // the old version's graph went with it
    assertTrue(store.facts("public", List.of("Amelia Quist"), 10).isEmpty());
    assertEquals(List.of("Tomas Brandt -[is a]-> miller"), store.facts("public", List.of("Tomas Brandt"), 10));
  }

  @Test
  void tenantsNeverSeeEachOther() throws Exception {
    String secret = "Project Nightjar launches on the ninth of March from the Kourou spaceport.";
    store.ingest("acme", List.of(new KnowledgeStore.SourceDocument("plan", "Launch plan", secret, "text")));
    store.ingest("globex", List.of(new KnowledgeStore.SourceDocument("plan", "Canteen", "The canteen serves soup on Fridays.", "text")));
    store.ingest("public", List.of(new KnowledgeStore.SourceDocument("faq", "FAQ", "The office opens at eight in the morning.", "text")));
    String q = "When does Project Nightjar launch?";
    List<KnowledgeStore.Hit> acme = store.search("acme", q, 5, true).hits();
    assertEquals("plan", acme.get(0).documentId());
    assertEquals("acme", acme.get(0).tenant());
    assertTrue(acme.stream().anyMatch(h -> h.tenant().equals("public")), "a tenant also sees public documents");
    for (String other : List.of("globex", "public")) {
      for (KnowledgeStore.Hit h : store.search(other, q, 5, true).hits()) {
        assertFalse(h.text().contains("Nightjar"), other + " saw acme's document");
        assertFalse(h.tenant().equals("acme"));
      }
    }
    // the same id in another tenant is another document: neither replaced the other
    assertEquals(secret, store.chunks("acme", "plan").get(0).text());
    assertEquals(1, store.chunks("globex", "plan").size());
    // the graph is per tenant too
    assertTrue(store.facts("globex", List.of("Project Nightjar"), 10).isEmpty());
  }

  @Test
  void survivesReopen() throws Exception {
    store.ingest("public", QaCorpus.documents().subList(0, 3));
    store.close();
    store = KnowledgeStore.open(new KnowledgeOptions().setDataDir(dataDir.toString()),
        MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32));
    assertEquals(3, store.stats().documents());
    assertEquals(1, rankOf("public", "Who created Lucene?", "lucene.md", true));
  }

  @Test
  void openingWithAnotherEmbedderEmbedsEveryChunkAgain() throws Exception {
    MiniLmEmbedder fp32 = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32);
    MiniLmEmbedder int8 = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.INT8);
    store.ingest("public", QaCorpus.documents());
    store.ingest("acme", List.of(new KnowledgeStore.SourceDocument("memo", "Memo",
        "Acme's night shift starts at 22:00 in the Rotterdam warehouse.", "text")));
    String q = "Who created Lucene?";
    KnowledgeStore.Hit before = store.search("public", q, 1, false).hits().get(0);
    KnowledgeStore.Stats stats = store.stats();
    store.close();
    assertEquals(fp32.id(), latestCommit().getUserData().get(KnowledgeStore.COMMIT_EMBEDDER));

    store = KnowledgeStore.open(new KnowledgeOptions().setDataDir(dataDir.toString()), int8);
    assertEquals(stats, store.stats());
    KnowledgeStore.Hit after = store.search("public", q, 1, false).hits().get(0);
    assertEquals(before.chunkId(), after.chunkId());
    // the chunk's stored vector is now int8's: its cosine with int8's query vector is what int8 gives for its text
    float expected = Embedder.cosine(int8.embed(q), int8.embed(KnowledgeStore.embeddingText(after.title(),
        after.heading(), after.text())));
    assertEquals(expected, after.similarity(), 1e-4);
    assertTrue(Math.abs(before.similarity() - after.similarity()) > 1e-4,
        "fp32 " + before.similarity() + " int8 " + after.similarity());
    // what rides along a chunk survived: tenants, the graph's mentions, the text
    assertEquals(1, rankOf("acme", "When does the night shift start?", "memo", false));
    assertEquals(-1, rankOf("public", "When does the night shift start?", "memo", false));
    KnowledgeStore.SearchResult r = store.search("public",
        "What consensus algorithm does the store that holds Kubernetes cluster state use?", 5, true);
    assertTrue(r.hits().stream().anyMatch(h -> h.documentId().equals("etcd.txt")
        && h.graph().stream().anyMatch(p -> p.startsWith("Kubernetes -["))), r.hits().toString());
    store.close();
    org.apache.lucene.index.IndexCommit reembedded = latestCommit();
    assertEquals(int8.id(), reembedded.getUserData().get(KnowledgeStore.COMMIT_EMBEDDER));

    // the same embedder again: nothing to do, no new commit
    store = KnowledgeStore.open(new KnowledgeOptions().setDataDir(dataDir.toString()), int8);
    assertEquals(stats, store.stats());
    store.close();
    assertEquals(reembedded.getGeneration(), latestCommit().getGeneration());
    store = null;
  }

  private org.apache.lucene.index.IndexCommit latestCommit() throws Exception {
    try (var dir = org.apache.lucene.store.FSDirectory.open(new KnowledgeOptions().setDataDir(dataDir.toString())
        .storeDir().resolve("index"))) {
      List<org.apache.lucene.index.IndexCommit> commits = org.apache.lucene.index.DirectoryReader.listCommits(dir);
      return commits.get(commits.size() - 1);
    }
  }
}
