package ai.companion.modelimport.impl;

import ai.companion.modelimport.LlamaConfig;
import ai.companion.modelimport.LlamaWeights;
import ai.companion.modelimport.ModelImportException;
import ai.companion.modelimport.ProgressListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a model folder in the Hugging Face ONNX layout, atomically: everything goes into a hidden
 * temporary folder beside the target, which is renamed at the end, or deleted on any failure.
 */
public final class ModelFolder {
  private static final Logger LOG = LoggerFactory.getLogger(ModelFolder.class);
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

  public static final String MODEL_FILE = "model.onnx";
  public static final String EXTERNAL_DATA_FILE = "model.onnx_data";
  /**
   * The same decoder with its key/value cache updated in place ({@link LlamaGraph#buildInPlace}), for ONNX Runtime
   * only (a contrib operator; transformers.js loads model.onnx). The worker prefers it when present
   * ({@code ModelConfig.IN_PLACE_MODEL} there).
   */
  public static final String IN_PLACE_MODEL_FILE = inPlaceFileName(MODEL_FILE);
  public static final String IN_PLACE_EXTERNAL_DATA_FILE = IN_PLACE_MODEL_FILE + "_data";

  /** The in-place cache decoder's file for a model file: model.onnx gives model_inplace_kv.onnx. */
  public static String inPlaceFileName(String modelFile) {
    return modelFile.replaceFirst("\\.onnx$", "") + "_inplace_kv.onnx";
  }
  /** Above this many bytes of weights, they go to {@link #EXTERNAL_DATA_FILE}. */
  public static final long EXTERNAL_DATA_THRESHOLD = 1L << 30;

  private ModelFolder() {}

  /** Writes the folder's files into a directory. */
  public interface Content {
    void writeTo(Path dir) throws IOException, ModelImportException;
  }

  public static void checkName(String name) throws ModelImportException {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new ModelImportException(null, "model name \"" + name + "\" is not allowed: use letters, "
          + "digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters");
    }
  }

  /** Creates {@code modelsDir/name} from the content, or leaves nothing behind. */
  public static Path writeAtomically(Path modelsDir, String name, Content content)
      throws ModelImportException {
    checkName(name);
    Path target = modelsDir.resolve(name);
    if (Files.exists(target)) {
      throw new ModelImportException(target, "a model folder of that name already exists; remove it "
          + "or choose another name");
    }
    Path tmp = null;
    try {
      Files.createDirectories(modelsDir);
      // not createTempDirectory: its owner-only permissions would stick to the model folder
      tmp = Files.createDirectory(modelsDir.resolve("." + name + ".importing-"
          + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong())));
      content.writeTo(tmp);
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target);
      }
      tmp = null;
      return target;
    } catch (FileAlreadyExistsException e) {
      throw new ModelImportException(target, "a model folder of that name appeared while importing", e);
    } catch (IOException | UncheckedIOException e) {
      throw new ModelImportException(tmp == null ? modelsDir : tmp, "cannot write the model folder: "
          + e, e);
    } finally {
      if (tmp != null) deleteQuietly(tmp);
    }
  }

  static void deleteQuietly(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    } catch (IOException e) {
      LOG.warn("could not delete the unfinished model folder {}: {}", dir, e.toString());
    }
  }

  /**
   * Builds the decoder graph and writes model.onnx (plus model.onnx_data for big models), then the same weights as
   * the in-place cache decoder, model_inplace_kv.onnx.
   */
  public static void writeOnnx(Path dir, LlamaWeights weights, String task, ProgressListener progress,
      Map<String, String> metadata) throws IOException {
    writeOnnx(dir, weights, task, progress, metadata,
        4 * weights.config().parameterCount() > EXTERNAL_DATA_THRESHOLD);
  }

  /**
   * @param external put the weights in {@value #EXTERNAL_DATA_FILE} beside model.onnx (needed past
   *     protobuf's 2 GB limit)
   */
  public static void writeOnnx(Path dir, LlamaWeights weights, String task, ProgressListener progress,
      Map<String, String> metadata, boolean external) throws IOException {
    LlamaConfig c = weights.config();
    // weights plus the two RoPE tables (inverse frequencies, pair rotation)
    long bytes = 4 * (c.parameterCount() + c.headDim() + (long) c.headDim() * c.headDim());
    int tensors = 4 + c.nLayers() * 6 + (c.sharedClassifier() ? 0 : 1);
    writeGraph(dir, weights, task, progress, metadata, bytes, tensors, "llama", LlamaGraph::build, MODEL_FILE,
        external ? EXTERNAL_DATA_FILE : null);
    writeGraph(dir, weights, task + " (in-place cache decoder)", progress, metadata, bytes, tensors,
        "llama_inplace_kv", LlamaGraph::buildInPlace, IN_PLACE_MODEL_FILE,
        external ? IN_PLACE_EXTERNAL_DATA_FILE : null);
  }

  /** One of {@link LlamaGraph}'s builds. */
  private interface GraphBuild {
    void build(GraphBuilder g, LlamaWeights weights) throws IOException;
  }

  /** Builds one graph and writes it as {@code dir/file}, its weights in {@code dir/dataFile} when not null. */
  private static void writeGraph(Path dir, LlamaWeights weights, String task, ProgressListener progress,
      Map<String, String> metadata, long bytes, int tensors, String name, GraphBuild build, String file,
      String dataFile) throws IOException {
    progress.begin(task, bytes, tensors);
    boolean ok = false;
    try (GraphBuilder g = new GraphBuilder(name, dataFile == null ? null : dir.resolve(dataFile), progress)) {
      build.build(g, weights);
      g.write(dir.resolve(file), metadata);
      ok = true;
    } finally {
      progress.end(ok);
    }
  }

  /** config.json for a Llama decoder. */
  public static Map<String, Object> config(LlamaConfig c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("architectures", List.of("LlamaForCausalLM"));
    m.put("model_type", "llama");
    m.put("hidden_size", c.dim());
    m.put("intermediate_size", c.hiddenDim());
    m.put("num_hidden_layers", c.nLayers());
    m.put("num_attention_heads", c.nHeads());
    m.put("num_key_value_heads", c.nKvHeads());
    m.put("head_dim", c.headDim());
    m.put("vocab_size", c.vocabSize());
    m.put("max_position_embeddings", c.seqLen());
    m.put("rms_norm_eps", Double.valueOf(Float.toString(c.normEps())));
    m.put("rope_theta", Double.valueOf(Float.toString(c.ropeTheta())));
    m.put("hidden_act", "silu");
    m.put("attention_bias", false);
    m.put("mlp_bias", false);
    m.put("tie_word_embeddings", c.sharedClassifier());
    m.put("bos_token_id", 1);
    m.put("eos_token_id", 2);
    m.put("use_cache", true);
    m.put("torch_dtype", "float32");
    return m;
  }

  public static Map<String, Object> generationConfig() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("bos_token_id", 1);
    m.put("eos_token_id", 2);
    return m;
  }

  public static void writeJson(Path file, Object value) throws IOException {
    Files.writeString(file, Json.write(value), StandardCharsets.UTF_8);
  }
}
