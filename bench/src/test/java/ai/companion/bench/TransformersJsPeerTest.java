package ai.companion.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.bench.impl.Engine;
import ai.companion.bench.impl.TjsPeer;
import ai.companion.testing.ExternalTools;
import ai.companion.testing.ModelFixtures;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real peer: the model folders our importer writes load in transformers.js (onnxruntime-node, local files only)
 * and its greedy tokens equal our worker engine's, 200 tokens (or up to the context) from BOS and after a prompt,
 * on both fixtures.
 * Where CI=true a missing node, node_modules or fixture fails; elsewhere the test is skipped.
 */
class TransformersJsPeerTest {
  private static final Logger LOG = LoggerFactory.getLogger(TransformersJsPeerTest.class);
  private static final int TOKENS = 200;

  @TempDir
  static Path modelsDir;

  private static TjsPeer tjs;
  private static final Map<String, Engine> ENGINES = new ConcurrentHashMap<>();

  @BeforeAll
  static void peer() {
    // surefire runs in the module dir (bench/); from the repository root it is bench/js
    Path js = Files.isDirectory(Path.of("js")) ? Path.of("js") : Path.of("bench", "js");
    tjs = new TjsPeer(js);
    String missing = tjs.unavailableReason();
    ExternalTools.require(missing == null ? null : "transformers.js peer: " + missing);
  }

  @AfterAll
  static void close() throws Exception {
    for (Engine e : ENGINES.values()) e.close();
  }

  private static synchronized Path folder(String model) throws Exception {
    Path folder = modelsDir.resolve(model);
    if (Files.isDirectory(folder)) return folder;
    return ModelFixtures.importModel(model, modelsDir);
  }

  private static Set<Integer> eosIds(Path folder) throws Exception {
    Object eos = new JsonObject(Files.readString(folder.resolve("config.json"))).getValue("eos_token_id");
    Set<Integer> ids = new HashSet<>();
    if (eos instanceof Number n) ids.add(n.intValue());
    if (eos instanceof JsonArray a) for (Object o : a) ids.add(((Number) o).intValue());
    return ids;
  }

  @ParameterizedTest(name = "{0} after \"{1}\"")
  @CsvSource(value = {
      "stories260K,''", "stories260K,Once upon a time", "stories260K,Tom and his dog went to the park",
      "aidreams260K,''", "aidreams260K,I dream of", "aidreams260K,The machine hums"})
  void greedyTokensEqualTransformersJs(String model, String prompt) throws Exception {
    Path folder = folder(model);
    Engine engine = ENGINES.computeIfAbsent(model, m -> {
      try {
        return Engine.load(folder);
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    // aidreams260K's context is 128: as many as fit, up to 200
    int promptTokens = engine.model().tokenizer().encodeWithBos(prompt).length;
    int tokens = Math.min(TOKENS, engine.model().config().contextLength() - promptTokens);
    TjsPeer.Result peer = tjs.generate(folder, tokens, prompt, 1, false, 600);
    Engine.Run ours = engine.greedy(prompt, tokens);
    assertTrue(ours.timeline().ok(), () -> "our stream failed: " + ours.timeline().error());

    List<Integer> expected = new ArrayList<>(peer.tokens());
    assertTrue(expected.size() >= 10, "transformers.js made only " + expected.size() + " tokens");
    Set<Integer> eos = eosIds(folder);
    if (!expected.isEmpty() && eos.contains(expected.get(expected.size() - 1))) {
      // transformers.js returns the EOS it stopped at; our stream ends there with finish_reason stop
      expected.remove(expected.size() - 1);
      assertEquals("stop", ours.timeline().finishReason(), "transformers.js stopped at EOS");
    } else {
      assertEquals(tokens, expected.size(), "transformers.js made max_new_tokens without EOS");
      assertEquals("length", ours.timeline().finishReason());
    }
    assertEquals(expected, ours.tokenIds(), () -> model + " after '" + prompt + "': transformers.js text: "
        + peer.text());
    LOG.info("{} after '{}': {} greedy tokens equal transformers.js's (finish {})", model, prompt, expected.size(),
        ours.timeline().finishReason());
  }
}
