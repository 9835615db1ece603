package ai.companion.modelimport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.modelimport.impl.Llama2cCheckpoint;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Both fp32 fixture models through the exporter, checked against their oracles and run.c. */
class Llama2cImportTest {
  static final int STEPS = 60;
  static final float TOLERANCE = 1e-4f;

  @TempDir static Path models;

  static Stream<Arguments> fixtures() {
    return Stream.of(
        Arguments.of("stories260K", "stories260K.bin", Fixtures.STORIES_ORACLE, Fixtures.STORIES_TEXT,
            "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"),
        Arguments.of("aidreams260K", "aidreams260K.bin", Fixtures.AIDREAMS_ORACLE,
            Fixtures.AIDREAMS_TEXT,
            "aa722d252ace805c9ff2264dce993df6843c8cec3d1a930d03e4c487f3db9028"));
  }

  private Path importOnce(String folder, String file) throws Exception {
    Path target = models.resolve(folder);
    if (Files.isDirectory(target)) return target;
    Path checkpoint = Fixtures.model(folder, file);
    return ModelImporter.importLlama2c(checkpoint, null, folder, models, ProgressListener.NONE);
  }

  private static LlamaConfig config(String folder, String file) throws Exception {
    return Llama2cCheckpoint.read(Fixtures.model(folder, file)).config();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void greedyFromBosEqualsOracle(String folder, String file, int[] oracle, String text, String sha)
      throws Exception {
    Path model = importOnce(folder, file);
    try (OnnxDecoder d = OnnxDecoder.open(model, config(folder, file))) {
      assertArrayEquals(oracle, d.greedy(STEPS));
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void tokenizerJsonDecodesOracleText(String folder, String file, int[] oracle, String text,
      String sha) throws Exception {
    Path model = importOnce(folder, file);
    long[] ids = new long[oracle.length + 1];
    ids[0] = Llama2cTokenizer.BOS;
    for (int i = 0; i < oracle.length; i++) ids[i + 1] = oracle[i];
    try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(
        model.resolve("tokenizer.json"))) {
      assertEquals(text, tok.decode(ids, true));
    }
    // and run.c's decode rule on the same ids, through the Java port
    Llama2cTokenizer llama = Llama2cTokenizer.read(Fixtures.model(folder, "tok512.bin"), 512);
    assertEquals(text, llama.decode(Llama2cTokenizer.BOS, oracle));
  }

  /** Teacher-forced BOS + oracle: one ONNX prefill against run.c's forward, position by position. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void onnxLogitsAgreeWithReferenceForward(String folder, String file, int[] oracle, String text,
      String sha) throws Exception {
    Path model = importOnce(folder, file);
    Llama2cCheckpoint weights = Llama2cCheckpoint.read(Fixtures.model(folder, file));
    ReferenceLlama ref = new ReferenceLlama(weights);
    long[] input = teacherInput(oracle);
    float maxDiff = 0;
    try (OnnxDecoder d = OnnxDecoder.open(model, weights.config())) {
      float[][] onnx = d.forward(input);
      for (int pos = 0; pos < STEPS; pos++) {
        float[] expected = ref.forward((int) input[pos], pos);
        maxDiff = Math.max(maxDiff, maxAbsDiff(expected, onnx[pos]));
        assertEquals(OnnxDecoder.argmax(expected), OnnxDecoder.argmax(onnx[pos]), "argmax at " + pos);
      }
    }
    System.out.printf("%s: max |onnx - reference| over %d positions = %.3g%n", folder, STEPS, maxDiff);
    assertTrue(maxDiff < TOLERANCE, "max logit difference " + maxDiff);
  }

  /** Token-by-token with the cache, and odd chunks, against one full recomputation. */
  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void kvCacheDecodingEqualsFullRecomputation(String folder, String file, int[] oracle, String text,
      String sha) throws Exception {
    Path model = importOnce(folder, file);
    long[] input = teacherInput(oracle);
    try (OnnxDecoder d = OnnxDecoder.open(model, config(folder, file))) {
      float[][] full = d.forward(input);
      for (int[] chunks : List.of(ones(STEPS), new int[] {17, 5, 1, 1, 13, 23})) {
        d.reset();
        int at = 0;
        float maxDiff = 0;
        for (int n : chunks) {
          long[] part = java.util.Arrays.copyOfRange(input, at, at + n);
          float[][] logits = d.forward(part);
          for (int i = 0; i < n; i++) {
            maxDiff = Math.max(maxDiff, maxAbsDiff(full[at + i], logits[i]));
            assertEquals(OnnxDecoder.argmax(full[at + i]), OnnxDecoder.argmax(logits[i]),
                "argmax at " + (at + i));
          }
          at += n;
        }
        assertEquals(STEPS, at);
        assertTrue(maxDiff < TOLERANCE, "cached vs full: max logit difference " + maxDiff);
      }
      // and from scratch at every length: the last position of each prefix
      for (int len = 1; len <= STEPS; len += 7) {
        d.reset();
        float[][] logits = d.forward(java.util.Arrays.copyOf(input, len));
        assertTrue(maxAbsDiff(full[len - 1], logits[len - 1]) < TOLERANCE, "prefix " + len);
      }
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("fixtures")
  void folderHasTheHuggingFaceLayout(String folder, String file, int[] oracle, String text,
      String sha) throws Exception {
    Path model = importOnce(folder, file);
    for (String f : List.of("config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json",
        "generation_config.json", "companion.json")) {
      assertTrue(Files.isRegularFile(model.resolve(f)), f);
    }
    LlamaConfig c = config(folder, file);
    String cfg = Files.readString(model.resolve("config.json"));
    for (String expected : List.of("\"model_type\": \"llama\"", "\"LlamaForCausalLM\"",
        "\"hidden_size\": " + c.dim(), "\"intermediate_size\": " + c.hiddenDim(),
        "\"num_hidden_layers\": " + c.nLayers(), "\"num_attention_heads\": " + c.nHeads(),
        "\"num_key_value_heads\": " + c.nKvHeads(), "\"head_dim\": " + c.headDim(),
        "\"max_position_embeddings\": " + c.seqLen(), "\"rms_norm_eps\": 1.0E-5",
        "\"rope_theta\": 10000.0", "\"tie_word_embeddings\": true", "\"bos_token_id\": 1",
        "\"eos_token_id\": 2", "\"torch_dtype\": \"float32\"")) {
      assertTrue(cfg.contains(expected), "config.json lacks " + expected + ":\n" + cfg);
    }
    String companion = Files.readString(model.resolve("companion.json"));
    assertTrue(companion.contains("\"source\": \"" + file + "\""), companion);
    assertTrue(companion.contains("\"sha256\": \"" + sha + "\""), companion);
    assertTrue(companion.contains("\"variant\": \"fp32\""), companion);
    try (Stream<Path> s = Files.list(models)) {
      assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".")), "temp folder left");
    }
    // ONNX Runtime sees the contract's names and named axes
    try (OnnxDecoder d = OnnxDecoder.open(model, c)) {
      var inputs = d.session().getInputInfo();
      assertEquals(3 + 2 * c.nLayers(), inputs.size());
      assertTrue(inputs.containsKey("past_key_values." + (c.nLayers() - 1) + ".value"));
      var outputs = d.session().getOutputInfo();
      assertTrue(outputs.containsKey("logits"));
      assertTrue(outputs.containsKey("present.0.key"));
      String past = inputs.get("past_key_values.0.key").getInfo().toString();
      assertTrue(past.contains("batch_size") && past.contains("past_sequence_length"), past);
    }
  }

  static long[] teacherInput(int[] oracle) {
    long[] input = new long[STEPS];
    input[0] = Llama2cTokenizer.BOS;
    for (int i = 1; i < STEPS; i++) input[i] = oracle[i - 1];
    return input;
  }

  static int[] ones(int n) {
    int[] a = new int[n];
    java.util.Arrays.fill(a, 1);
    return a;
  }

  static float maxAbsDiff(float[] a, float[] b) {
    assertEquals(a.length, b.length);
    float m = 0;
    for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  }
}
