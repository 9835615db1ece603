package ai.companion.knowledge.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Extraction, sentence splitting, chunking and graph rules on small texts. */
class TextProcessingTest {

  @Test
  void htmlBecomesTextWithHeadings() {
    String html = "<!doctype html><html><head><title>T &amp; C</title><style>p{color:red}</style>"
        + "<script>var x = '<p>no</p>';</script></head><body><nav>Home</nav><h1>Main</h1>"
        + "<p>First &lt;para&gt; with&nbsp;space &#8212; and &#x41;.</p><!-- hidden --><h2>Sub</h2>"
        + "<ul><li>one</li><li>two</li></ul><pre>line1\nline2</pre><table><tr><td>a</td><td>b</td></tr></table></body></html>";
    TextExtractor.Extracted ex = TextExtractor.extract(html, "html");
    assertEquals("T & C", ex.title());
    String all = ex.plainText();
    assertFalse(all.contains("var x"), all);
    assertFalse(all.contains("color"), all);
    assertFalse(all.contains("hidden"), all);
    assertFalse(all.replace("<para>", "").contains("<"), all);
    assertFalse(all.contains("Home"), "navigation is boilerplate: " + all);
    assertTrue(all.contains("First <para> with space \u2014 and A."), all);
    assertEquals("Main > Sub", ex.sections().get(ex.sections().size() - 1).heading());
    assertTrue(ex.sections().get(ex.sections().size() - 1).text().contains("one\n\ntwo"), ex.sections().toString());
  }

  @Test
  void markdownKeepsTextAndCodeDropsSyntax() {
    String md = "# Guide\n\nRun **this** [command](http://x) now:\n\n```bash\n./companion start\n```\n\n"
        + "## Import\n\n- Use `./companion model import`\n- Then *restart*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    TextExtractor.Extracted ex = TextExtractor.extract(md, "markdown");
    assertEquals("Guide", ex.title());
    assertEquals("Guide", ex.sections().get(0).heading());
    assertTrue(ex.sections().get(0).text().contains("Run this command now:"), ex.sections().get(0).text());
    assertTrue(ex.sections().get(0).text().contains("./companion start"));
    TextExtractor.Section imp = ex.sections().get(1);
    assertEquals("Guide > Import", imp.heading());
    assertTrue(imp.text().contains("Use ./companion model import"), imp.text());
    assertTrue(imp.text().contains("Then restart"), imp.text());
    assertFalse(imp.text().contains("---"), imp.text());
  }

  @Test
  void sentencesRespectAbbreviationsAndDottedNames() {
    assertEquals(List.of("Dr. Smith uses Vert.x and e.g. Lucene 9.12.", "It works!", "Does it?"),
        Sentences.split("Dr. Smith uses Vert.x and e.g. Lucene 9.12. It works! Does it?"));
    assertEquals(List.of("Run ./companion start.", "Then wait."), Sentences.split("Run ./companion start. Then wait."));
  }

  @Test
  void chunksStayNearTheTargetAndOverlap() {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < 40; i++) sb.append("Sentence number ").append(i).append(" talks about chunking. ");
    List<Chunker.Chunk> chunks = new Chunker(200, 60).chunk(List.of(new TextExtractor.Section("H", sb.toString().trim())));
    assertTrue(chunks.size() > 5, "chunks " + chunks.size());
    for (Chunker.Chunk c : chunks) {
      assertTrue(c.text().length() <= 200, c.text().length() + ": " + c.text());
      assertEquals("H", c.heading());
    }
    for (int i = 1; i < chunks.size(); i++) {
      String prev = chunks.get(i - 1).text();
      String firstSentence = Sentences.split(chunks.get(i).text()).get(0);
      assertTrue(prev.contains(firstSentence), "chunk " + i + " should start with the previous chunk's tail");
    }
    // every sentence is in some chunk
    for (int i = 0; i < 40; i++) {
      String s = "Sentence number " + i + " talks";
      assertTrue(chunks.stream().anyMatch(c -> c.text().contains(s)), s);
    }
    // a single giant word is cut, not dropped
    List<Chunker.Chunk> giant = new Chunker(100, 10).chunk(List.of(new TextExtractor.Section("", "x".repeat(350))));
    assertEquals(350, giant.stream().mapToInt(c -> c.text().length()).sum());
  }

  @Test
  void graphRulesFindEntitiesAndRelations() {
    GraphExtractor.Extraction g = GraphExtractor.extract(
        "Apache Lucene is a search library written in Java. The knowledge service has a graph store. "
            + "etcd is a distributed key-value store. Kubernetes stores all cluster state in etcd.");
    List<String> keys = g.entities().stream().map(GraphExtractor.Entity::key).toList();
    assertTrue(keys.containsAll(List.of("apache lucene", "search library", "java", "knowledge service", "graph store",
        "etcd", "kubernetes")), keys.toString());
    List<String> rels = g.relations().stream().map(r -> r.src() + " |" + r.rel() + "| " + r.dst()).toList();
    assertTrue(rels.contains("apache lucene |is a| search library"), rels.toString());
    assertTrue(rels.contains("search library |written in| java"), rels.toString());
    assertTrue(rels.contains("knowledge service |has| graph store"), rels.toString());
    assertTrue(rels.contains("etcd |is a| distributed key-value store"), rels.toString());
    assertTrue(rels.contains("apache lucene |co-occurs with| java"), rels.toString());
    // with etcd known, the lower-case mention in the last sentence links the two documents' worlds
    GraphExtractor.Extraction k = GraphExtractor.extract("Kubernetes stores all cluster state in etcd.", java.util.Set.of("etcd"));
    assertTrue(k.relations().stream().anyMatch(r -> r.src().equals("kubernetes") && r.dst().equals("etcd")
        && r.rel().equals("stores all cluster state in")), k.relations().toString());
  }
}
