package ai.companion.knowledge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.embeddings.MiniLmEmbedder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FilterDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A commit whose fsync fails (in the spirit of Lucene's MockDirectoryWrapper): the ingest fails instead of being
 * acknowledged, the store stops taking writes, and after reopening it holds exactly what was committed before.
 */
class KnowledgeStoreFaultTest {
  @TempDir Path dataDir;

  static final class FailingSyncDirectory extends FilterDirectory {
    final AtomicBoolean fail = new AtomicBoolean();

    FailingSyncDirectory(Directory in) {
      super(in);
    }

    @Override
    public void sync(Collection<String> names) throws IOException {
      if (fail.get()) throw new IOException("injected: fsync failed");
      super.sync(names);
    }
  }

  @Test
  void aFailedCommitIsNeverAcknowledgedNorPublished() throws Exception {
    KnowledgeOptions opts = new KnowledgeOptions().setDataDir(dataDir.toString());
    MiniLmEmbedder embedder = MiniLmEmbedder.shared(MiniLmEmbedder.Variant.FP32);
    FailingSyncDirectory[] wrapped = new FailingSyncDirectory[1];
    KnowledgeStore store = KnowledgeStore.open(opts, embedder, d -> wrapped[0] = new FailingSyncDirectory(d));
    store.ingest("public", List.of(new KnowledgeStore.SourceDocument("a", "A", "Alpha facts about apples.", "text")));
    wrapped[0].fail.set(true);
    assertThrows(IOException.class, () -> store.ingest("public",
        List.of(new KnowledgeStore.SourceDocument("b", "B", "Beta facts about bananas.", "text"))));
    wrapped[0].fail.set(false);
    IllegalStateException refused = assertThrows(IllegalStateException.class, () -> store.ingest("public",
        List.of(new KnowledgeStore.SourceDocument("c", "C", "Gamma facts about cherries.", "text"))));
    assertTrue(refused.getMessage().contains("out of service"), refused.getMessage());
    store.close();

    try (KnowledgeStore reopened = KnowledgeStore.open(opts, embedder)) {
      assertEquals(1, reopened.recordedChunkCount("public", "a"));
      assertEquals(-1, reopened.recordedChunkCount("public", "b"));
      assertEquals(List.of(), reopened.chunks("public", "b"));
      assertEquals(1, reopened.stats().documents());
      reopened.ingest("public", List.of(new KnowledgeStore.SourceDocument("c", "C", "Gamma facts about cherries.", "text")));
      assertEquals("c", reopened.search("public", "cherries", 1, true).hits().get(0).documentId());
    }
  }
}
