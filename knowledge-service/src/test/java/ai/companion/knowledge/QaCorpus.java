package ai.companion.knowledge;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The labelled QA set in src/test/resources/qa: documents, answerable questions (with their document), gaps. */
final class QaCorpus {
  private QaCorpus() {}

  static final List<String> DOCS = List.of("lucene.md", "hazelcast.md", "onnx.html", "vertx.md", "tinystories.txt",
      "minilm.md", "rrf.txt", "raft.html", "etcd.txt", "kubernetes.md", "coffee.md", "photosynthesis.txt",
      "tolkien.html", "narnia.txt", "python-gil.md");
  static final List<String> FILL = List.of("sourdough.md", "bees.txt");

  record Question(String q, String doc, int hops) {}

  record Unanswerable(String q, String fill) {}

  static List<KnowledgeStore.SourceDocument> documents() {
    return DOCS.stream().map(n -> doc("qa/docs/", n)).toList();
  }

  static KnowledgeStore.SourceDocument fill(String name) {
    return doc("qa/fill/", name);
  }

  static KnowledgeStore.SourceDocument doc(String dir, String name) {
    String format = name.endsWith(".md") ? "markdown" : name.endsWith(".html") ? "html" : "text";
    return new KnowledgeStore.SourceDocument(name, null, read(dir + name), format);
  }

  static List<Question> answerable() {
    List<Question> out = new ArrayList<>();
    for (Object o : questions().getJsonArray("answerable")) {
      JsonObject j = (JsonObject) o;
      out.add(new Question(j.getString("q"), j.getString("doc"), j.getInteger("hops", 1)));
    }
    return out;
  }

  static List<Unanswerable> unanswerable() {
    List<Unanswerable> out = new ArrayList<>();
    for (Object o : questions().getJsonArray("unanswerable")) {
      JsonObject j = (JsonObject) o;
      out.add(new Unanswerable(j.getString("q"), j.getString("fill")));
    }
    return out;
  }

  private static JsonObject questions() {
    return new JsonObject(read("qa/questions.json"));
  }

  static String read(String resource) {
    try (InputStream in = QaCorpus.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) throw new IllegalStateException("missing test resource " + resource);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

}
