package ai.companion.modelimport;

import ai.companion.modelimport.impl.ModelFolder;
import ai.companion.modelimport.impl.TokenizerFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Random-weight Llama decoders with the shapes of real models, written through the same graph code
 * as imports: for benchmarks at realistic sizes without shipping weights. The tokenizer is made up
 * too (byte fallback plus filler pieces built by merges) but is a working BPE of the right size.
 */
public final class SyntheticModels {
  private static final Logger LOG = LoggerFactory.getLogger(SyntheticModels.class);

  private SyntheticModels() {}

  /** A named model shape. */
  public record Shape(String label, LlamaConfig config) {
    /** SmolLM2-135M: 30 layers, width 576, 9 heads, 3 KV heads, vocab 49152, tied, context 2048. */
    public static final Shape SMOLLM2_135M =
        new Shape("SmolLM2-135M", LlamaConfig.of(576, 1536, 30, 9, 3, 49152, 2048, true));
    /** stories260K's shape. */
    public static final Shape STORIES_260K =
        new Shape("stories260K", LlamaConfig.of(64, 172, 5, 8, 4, 512, 512, true));
    /** Two small layers, for tests. */
    public static final Shape TINY =
        new Shape("tiny", LlamaConfig.of(64, 128, 2, 4, 2, 1000, 256, true));
  }

  /**
   * Writes {@code modelsDir/name} with random weights of the given shape (the same seed gives the same
   * weights).
   */
  public static Path write(Path modelsDir, String name, Shape shape, long seed,
      ProgressListener progress) throws ModelImportException {
    return write(modelsDir, name, shape, seed,
        4 * shape.config().parameterCount() > ModelFolder.EXTERNAL_DATA_THRESHOLD, progress);
  }

  /**
   * As {@link #write(Path, String, Shape, long, ProgressListener)}, choosing whether the weights go
   * to {@code model.onnx_data} beside {@code model.onnx} (ONNX external data; automatic past 1 GiB).
   */
  public static Path write(Path modelsDir, String name, Shape shape, long seed, boolean externalData,
      ProgressListener progress) throws ModelImportException {
    ModelFolder.checkName(name);
    ProgressListener listener = progress == null ? ProgressListener.NONE : progress;
    LlamaConfig c = shape.config();
    Llama2cTokenizer tok = fillerTokenizer(c.vocabSize());
    Map<String, Object> companion = new LinkedHashMap<>();
    companion.put("source", "synthetic");
    companion.put("sha256", null);
    companion.put("variant", "fp32");
    companion.put("description", "random weights (seed " + seed + ") with the shape of "
        + shape.label() + ": " + c);
    Path folder = ModelFolder.writeAtomically(modelsDir, name, dir -> {
      ModelFolder.writeOnnx(dir, new RandomWeights(c, seed), "Writing " + name, listener,
          Map.of("source", "synthetic " + shape.label(), "seed", Long.toString(seed)), externalData);
      ModelFolder.writeJson(dir.resolve("config.json"), ModelFolder.config(c));
      ModelFolder.writeJson(dir.resolve("generation_config.json"), ModelFolder.generationConfig());
      ModelFolder.writeJson(dir.resolve("tokenizer.json"), TokenizerFiles.tokenizerJson(tok));
      ModelFolder.writeJson(dir.resolve("tokenizer_config.json"),
          TokenizerFiles.tokenizerConfig(c.seqLen()));
      ModelFolder.writeJson(dir.resolve(ModelImporter.COMPANION_FILE), companion);
    });
    LOG.info("Wrote synthetic {} model ({} parameters) to {}", shape.label(), c.parameterCount(),
        folder);
    return folder;
  }

  /**
   * A vocabulary of exactly {@code vocabSize} pieces: the 259 llama2.c specials and bytes, the
   * printable ASCII characters, then pieces grown one character at a time (each the merge of a shorter
   * piece and a character), best scores first.
   */
  static Llama2cTokenizer fillerTokenizer(int vocabSize) {
    if (vocabSize < Llama2cTokenizer.BYTE_OFFSET + 256 + 1) {
      throw new IllegalArgumentException("vocab_size " + vocabSize + " is below 260");
    }
    List<String> pieces = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
    for (int b = 0; b < 256; b++) pieces.add(String.format("<0x%02X>", b));
    Set<String> seen = new HashSet<>(pieces);
    List<String> singles = new ArrayList<>();
    for (char ch = ' '; ch <= '~'; ch++) singles.add(String.valueOf(ch));
    String grow = " etaoinshrdlcumwfgypbvkjxqz"; // space first: word starts are the common pieces
    List<String> frontier = new ArrayList<>();
    for (String s : singles) {
      if (pieces.size() == vocabSize) break;
      pieces.add(s);
      seen.add(s);
      frontier.add(s);
    }
    while (pieces.size() < vocabSize) {
      List<String> next = new ArrayList<>();
      for (String p : frontier) {
        for (int i = 0; i < grow.length() && pieces.size() < vocabSize; i++) {
          String q = p + grow.charAt(i);
          if (seen.add(q)) {
            pieces.add(q);
            next.add(q);
          }
        }
        if (pieces.size() == vocabSize) break;
      }
      frontier = next;
    }
    float[] scores = new float[vocabSize];
    List<byte[]> bytes = new ArrayList<>(vocabSize);
    for (int i = 0; i < vocabSize; i++) {
      scores[i] = i < Llama2cTokenizer.BYTE_OFFSET + 256 ? 0f : -(i - 258);
      bytes.add(pieces.get(i).getBytes(StandardCharsets.UTF_8));
    }
    return Llama2cTokenizer.of(Path.of("synthetic-tokenizer"), bytes, scores);
  }

  /** Uniform weights with the spread of a 0.02-std init; norms at 1. One stream per tensor. */
  private static final class RandomWeights implements LlamaWeights {
    private final LlamaConfig c;
    private final long seed;

    RandomWeights(LlamaConfig c, long seed) {
      this.c = c;
      this.seed = seed;
    }

    @Override
    public LlamaConfig config() {
      return c;
    }

    @Override
    public float[] tensor(Tensor t, int layer) throws IOException {
      float[] a = new float[Math.toIntExact(t.size(c))];
      if (t == Tensor.RMS_ATT || t == Tensor.RMS_FFN || t == Tensor.RMS_FINAL) {
        java.util.Arrays.fill(a, 1f);
        return a;
      }
      SplittableRandom r = new SplittableRandom(seed * 1_000_003L + t.ordinal() * 4096L + layer);
      float spread = 0.02f * (float) Math.sqrt(3);
      for (int i = 0; i < a.length; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * spread);
      return a;
    }
  }
}
